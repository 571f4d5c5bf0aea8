"""The warmup + cosine learning-rate schedule of fine-tuning."""

import pytest
import torch
from d3rlpy.optimizers.lr_schedulers import WarmupSchedulerFactory

from d3rlpy_dtmem.lr_schedules import WarmupCosineSchedulerFactory, with_cosine_decay


def test_factor_warms_up_then_follows_a_cosine_to_zero():
    schedule = WarmupCosineSchedulerFactory(warmup_steps=4, decay_steps=100)
    cosine = [0.5 * (1 + torch.cos(torch.tensor(torch.pi * t / 100))).item() for t in range(101)]
    assert schedule.factor(0) == pytest.approx(0.25 * cosine[0])
    assert schedule.factor(2) == pytest.approx(0.75 * cosine[2])
    assert schedule.factor(3) == pytest.approx(cosine[3])
    assert schedule.factor(50) == pytest.approx(0.5)
    assert schedule.factor(100) == schedule.factor(1000) == 0.0
    assert WarmupCosineSchedulerFactory(0, 10).factor(0) == 1.0  # no warmup


def test_the_scheduler_drives_an_optimizer_and_saves_no_function():
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scheduler = WarmupCosineSchedulerFactory(2, 6).create(optimizer)
    rates = []
    for _ in range(8):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [0.1 * WarmupCosineSchedulerFactory(2, 6).factor(t) for t in range(8)]
    assert rates == pytest.approx(expected)
    assert scheduler.state_dict()["lr_lambdas"] == [None]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="decay_steps must be >= 1"):
        WarmupCosineSchedulerFactory(10, 0)
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        WarmupCosineSchedulerFactory(-1, 10)


def test_with_cosine_decay_keeps_the_warmup():
    warmup = WarmupSchedulerFactory(warmup_steps=50)
    assert with_cosine_decay(warmup, 300) == WarmupCosineSchedulerFactory(50, 300)
    assert with_cosine_decay(None, 300) == WarmupCosineSchedulerFactory(0, 300)
    assert with_cosine_decay(warmup, None) is warmup
    assert with_cosine_decay(WarmupCosineSchedulerFactory(50, 300), None) == warmup
    assert with_cosine_decay(WarmupCosineSchedulerFactory(0, 300), None) is None


def test_the_schedule_serialises_as_a_registered_d3rlpy_config():
    from d3rlpy_dtmem import DTMemConfig

    config = DTMemConfig()
    config.optim_factory.lr_scheduler_factory = WarmupCosineSchedulerFactory(7, 70)
    restored = DTMemConfig.deserialize(config.serialize())
    assert restored.optim_factory.lr_scheduler_factory == WarmupCosineSchedulerFactory(7, 70)


def test_the_default_optimizer_and_presets_take_a_pretraining_decay():
    from d3rlpy_dtmem.algo import default_optim_factory
    from d3rlpy_dtmem.app.presets import preset_config

    assert default_optim_factory(100).lr_scheduler_factory == WarmupSchedulerFactory(100)
    assert default_optim_factory(100, 900).lr_scheduler_factory == (
        WarmupCosineSchedulerFactory(100, 900)
    )
    assert default_optim_factory(0, 900).lr_scheduler_factory == (
        WarmupCosineSchedulerFactory(0, 900)
    )
    assert default_optim_factory(0).lr_scheduler_factory is None
    tiny = preset_config("tiny", pixel=False, decay_steps=500).optim_factory
    assert isinstance(tiny.lr_scheduler_factory, WarmupCosineSchedulerFactory)
    assert tiny.lr_scheduler_factory.decay_steps == 500
    assert tiny.clip_grad_norm == 1.0


def test_a_schedule_name_maps_to_decay_steps_and_unknown_names_are_refused():
    from d3rlpy_dtmem.app.jobs import decay_steps_for

    assert decay_steps_for("cosine", 300) == 300
    assert decay_steps_for("constant", 300) is None
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        decay_steps_for("linear", 300)
