"""Adapter mode: LoRA on the memory (peft), adapter files, switching, merging, fine-tuning modes."""

import d3rlpy
import numpy as np
import pytest
import torch
from d3rlpy.torch_utility import TorchTrajectoryMiniBatch
from helpers import synthetic_dataset, tiny_config, window_input

from d3rlpy_dtmem.adapters import AdapterError, base_state_dict


def train(algo, dataset, steps, seed=0):
    rng_state = np.random.get_state()
    np.random.seed(seed)
    for _ in range(steps):
        algo.update(
            dataset.sample_trajectory_batch(algo.config.batch_size, algo.config.context_size)
        )
    np.random.set_state(rng_state)


def base_dataset():
    return synthetic_dataset(discrete=True, episodes=8, length=20)


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    """One pre-trained base model for the whole module; each test loads its own copy."""
    dataset = base_dataset()
    algo = tiny_config().create()
    algo.build_with_dataset(dataset)
    train(algo, dataset, 150)
    path = tmp_path_factory.mktemp("base") / "base.d3"
    algo.save(str(path))
    return path


@pytest.fixture
def pretrained(base_path):
    def load():
        return d3rlpy.load_learnable(str(base_path)), base_dataset()

    return load


def untrained(**overrides):
    dataset = base_dataset()
    algo = tiny_config(**overrides).create()
    algo.build_with_dataset(dataset)
    return algo, dataset


def shifted_dataset():
    """Same observations, another policy: action = (argmax + 1) mod 3."""
    dataset = synthetic_dataset(discrete=True, episodes=8, length=20, seed=5)
    for episode in dataset.episodes:
        episode.actions[:] = (episode.actions + 1) % 3
    return dataset


def predictions(algo, dataset):
    algo.impl.modules.model.eval()
    return algo.predict(window_input(dataset, algo.config.context_size))


def loss_on(algo, dataset):
    np.random.seed(123)
    batch = dataset.sample_trajectory_batch(64, algo.config.context_size)
    torch_batch = TorchTrajectoryMiniBatch.from_batch(batch, device="cpu:0")
    algo.impl.modules.model.eval()
    with torch.no_grad():
        return float(algo.impl.compute_loss(torch_batch)["action_loss"])


def test_only_lora_weights_train_and_they_are_named_lora(pretrained, tmp_path):
    algo, dataset = pretrained()
    before = {k: v.clone() for k, v in base_state_dict(algo.impl.model).items()}
    algo.enable_lora(rank=4, alpha=8)
    trainable = [n for n, p in algo.impl.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora" in n and n.startswith("memory.") for n in trainable)
    assert len(trainable) == 12, "A and B for the six linear layers of the memory"
    lora_before = {n: p.clone() for n, p in algo.impl.model.named_parameters() if p.requires_grad}
    algo.fit(
        shifted_dataset(),
        n_steps=6,
        n_steps_per_epoch=6,
        show_progress=False,
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir=str(tmp_path)),
    )
    after = base_state_dict(algo.impl.model)
    for key, value in before.items():
        assert torch.equal(value, after[key]), f"frozen weight {key} moved"
    parameters = dict(algo.impl.model.named_parameters())
    assert any(not torch.equal(value, parameters[n]) for n, value in lora_before.items())


def test_trainable_share_is_small():
    algo, _ = untrained(encoder_factory=d3rlpy.models.VectorEncoderFactory([128]), memory_slots=64)
    algo.enable_lora(rank=4)
    counts = algo.parameter_counts()
    assert counts["trainable"] == 6 * 4 * (128 + 128)
    assert counts["trainable"] / counts["total"] <= 0.02


def test_adapter_file_is_small_and_reloads_onto_a_fresh_base(pretrained, tmp_path):
    algo, dataset = pretrained()
    algo.save(str(tmp_path / "base.d3"))
    algo.enable_lora(name="shift")
    train(algo, shifted_dataset(), 20)
    adapted = predictions(algo, dataset)
    algo.save_adapter(tmp_path / "shift.pt")
    size_ratio = (tmp_path / "shift.pt").stat().st_size / (tmp_path / "base.d3").stat().st_size
    assert size_ratio < 0.1
    fresh = d3rlpy.load_learnable(str(tmp_path / "base.d3"))
    assert fresh.load_adapter(tmp_path / "shift.pt") == "shift"
    np.testing.assert_allclose(predictions(fresh, dataset), adapted, atol=1e-6)


def test_save_with_lora_enabled_writes_the_base_model(pretrained, tmp_path):
    algo, dataset = pretrained()
    base = predictions(algo, dataset)
    algo.enable_lora()
    train(algo, shifted_dataset(), 20)
    assert not np.allclose(predictions(algo, dataset), base, atol=1e-4)
    algo.save(str(tmp_path / "with_lora.d3"))
    restored = d3rlpy.load_learnable(str(tmp_path / "with_lora.d3"))
    assert restored.lora_adapters == []
    np.testing.assert_allclose(predictions(restored, dataset), base, atol=1e-6)


def test_switching_adapters_and_back(pretrained, tmp_path):
    algo, dataset = pretrained()
    algo.enable_lora(name="a")
    train(algo, shifted_dataset(), 20, seed=1)
    algo.enable_lora(name="b", rank=2)
    train(algo, dataset, 20, seed=2)
    assert algo.lora_adapters == ["a", "b"] and algo.active_adapter == "b"
    with_b = predictions(algo, dataset)
    algo.set_adapter("a")
    with_a = predictions(algo, dataset)
    assert not np.allclose(with_a, with_b, atol=1e-4)
    algo.set_adapter("b")
    np.testing.assert_allclose(predictions(algo, dataset), with_b, atol=1e-7)
    with pytest.raises(AdapterError, match="no adapter named 'c'"):
        algo.set_adapter("c")


def test_merge_equals_the_unmerged_adapter_and_exports(pretrained, tmp_path):
    algo, dataset = pretrained()
    algo.enable_lora()
    train(algo, shifted_dataset(), 20)
    unmerged = predictions(algo, dataset)
    algo.merge_adapter()
    assert algo.lora_adapters == []
    assert all(p.requires_grad for p in algo.impl.model.parameters())
    np.testing.assert_allclose(predictions(algo, dataset), unmerged, atol=1e-5)
    algo.save(str(tmp_path / "merged.d3"))
    np.testing.assert_allclose(
        predictions(d3rlpy.load_learnable(str(tmp_path / "merged.d3")), dataset),
        unmerged,
        atol=1e-5,
    )


def test_disable_lora_restores_the_base(pretrained):
    algo, dataset = pretrained()
    base = predictions(algo, dataset)
    algo.enable_lora()
    train(algo, shifted_dataset(), 10)
    algo.disable_lora()
    np.testing.assert_allclose(predictions(algo, dataset), base, atol=1e-7)
    assert algo.lora_adapters == [] and algo.active_adapter is None


def test_lora_finetuning_lowers_the_loss_of_a_shifted_task(pretrained):
    algo, _ = pretrained()
    target = shifted_dataset()
    before = loss_on(algo, target)
    algo.configure_finetuning("lora", rank=4, alpha=16)
    train(algo, target, 150)
    assert loss_on(algo, target) < 0.8 * before


def test_adapter_from_another_base_is_refused(pretrained, tmp_path):
    algo, _ = pretrained()
    algo.enable_lora()
    algo.save_adapter(tmp_path / "a.pt")
    other, dataset = pretrained()
    train(other, dataset, 1)
    with pytest.raises(AdapterError, match="another base model"):
        other.load_adapter(tmp_path / "a.pt")
    assert other.lora_adapters == []


def test_bad_adapter_files_are_refused(tmp_path):
    algo, _ = untrained()
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(AdapterError, match="junk.pt: not a readable adapter file"):
        algo.load_adapter(tmp_path / "junk.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(AdapterError, match="other.pt: not a d3rlpy-dtmem adapter file"):
        algo.load_adapter(tmp_path / "other.pt")
    with pytest.raises(AdapterError, match="no such adapter file"):
        algo.load_adapter(tmp_path / "missing.pt")


@pytest.mark.parametrize("mode", ["full-memory", "full"])
def test_full_modes_train_what_they_say(pretrained, mode):
    algo, dataset = pretrained()
    before = {k: v.clone() for k, v in algo.impl.model.state_dict().items()}
    algo.configure_finetuning(mode)
    train(algo, shifted_dataset(), 5)
    after = algo.impl.model.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("memory.") for k in moved)
    if mode == "full-memory":
        assert all(k.startswith("memory.") for k in moved)
    else:
        assert any(k.startswith("trunk.") for k in moved)


def test_unknown_mode_is_refused():
    algo, _ = untrained()
    with pytest.raises(ValueError, match="unknown fine-tuning mode 'half'"):
        algo.configure_finetuning("half")


def test_policy_export_with_an_adapter(pretrained, tmp_path):
    algo, dataset = pretrained()
    algo.enable_lora()
    train(algo, shifted_dataset(), 10)
    algo.save_policy(str(tmp_path / "policy.pt"))
    assert all("lora" not in n or p.requires_grad for n, p in algo.impl.model.named_parameters())
    policy = torch.jit.load(str(tmp_path / "policy.pt"))
    inpt = window_input(dataset, algo.config.context_size)
    action = policy(
        torch.from_numpy(inpt.observations).float(),
        torch.from_numpy(inpt.actions.reshape(-1, 1).astype(np.float32)),
        torch.from_numpy(inpt.returns_to_go),
        torch.from_numpy(inpt.timesteps).long(),
    )
    assert int(action) == int(np.argmax(predictions(algo, dataset)))


def _peak_rates(algo):
    return {group["initial_lr"] for group in algo.impl.modules.optim.optim.param_groups}


def test_adapters_train_at_their_own_learning_rate():
    from d3rlpy_dtmem.finetuning import DEFAULT_LORA_LEARNING_RATE

    algo, _ = untrained(learning_rate=5e-5)  # not the base model's rate
    algo.enable_lora(name="default")
    algo.prepare_training()
    assert _peak_rates(algo) == {DEFAULT_LORA_LEARNING_RATE} != {5e-5}
    algo.enable_lora(name="fast", learning_rate=0.05)
    algo.prepare_training()
    assert _peak_rates(algo) == {0.05}
    algo.set_adapter("default")  # each adapter keeps its own rate
    algo.prepare_training()
    assert _peak_rates(algo) == {DEFAULT_LORA_LEARNING_RATE}
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        algo.enable_lora(name="bad", learning_rate=0.0)


def test_full_finetuning_rate_defaults_to_the_config_and_can_be_set(pretrained):
    algo, _ = pretrained()
    algo.configure_finetuning("full-memory")
    assert _peak_rates(algo) == {algo.config.learning_rate}
    algo.configure_finetuning("full", learning_rate=2e-4)
    assert _peak_rates(algo) == {2e-4}


@pytest.mark.parametrize("addressing", ["content", "slot_keys"])
def test_lora_trains_both_addressing_forms(addressing, tmp_path):
    algo, dataset = untrained(memory_addressing=addressing)
    train(algo, dataset, 150)
    algo.save(str(tmp_path / "base.d3"))
    loaded = d3rlpy.load_learnable(str(tmp_path / "base.d3"))
    assert loaded.config.memory_addressing == addressing
    np.testing.assert_allclose(predictions(loaded, dataset), predictions(algo, dataset), atol=1e-5)
    target = shifted_dataset()
    before = loss_on(loaded, target)
    loaded.enable_lora(rank=4, alpha=16)
    train(loaded, target, 150)
    assert loss_on(loaded, target) < 0.8 * before


def test_set_adapter_serves_without_training_set_up(pretrained):
    algo, dataset = pretrained()
    base = predictions(algo, dataset)
    algo.enable_lora(name="a")
    train(algo, dataset, 20)  # fit builds the adapter's optimizer
    adapted = predictions(algo, dataset)
    assert not np.allclose(base, adapted)
    algo.enable_lora(name="b")
    optimizer, model = algo.impl.modules.optim, algo.impl.modules.model
    algo.set_adapter("a")
    algo.set_adapter("b")
    assert algo.impl.modules.optim is optimizer and algo.impl.modules.model is model
    assert np.allclose(base, predictions(algo, dataset))  # b is still zero
    algo.set_adapter("a")
    assert np.allclose(adapted, predictions(algo, dataset))  # served as trained
    train(algo, dataset, 2)  # training sets up for the active adapter
    groups = algo.impl.modules.optim.optim.param_groups
    trained = {id(p) for group in groups for p in group["params"]}
    names = algo.impl.model.named_parameters()
    assert trained == {id(p) for n, p in names if ".lora_A.a." in n or ".lora_B.a." in n}


def test_a_change_of_trainable_parameters_rebuilds_the_graphed_step(pretrained, monkeypatch):
    import d3rlpy_dtmem.impl as impl_module

    graphs = []

    class RecordingGraph:  # stands in for d3rlpy's CudaGraphWrapper (needs CUDA)
        def __init__(self, func):
            self.func = func
            graphs.append(self)

    monkeypatch.setattr(impl_module, "CudaGraphWrapper", RecordingGraph)
    algo, _ = pretrained()
    algo.impl._compiled = True  # as with compile_graph=True on a CUDA device
    algo.enable_lora()
    algo.prepare_training()
    assert len(graphs) == 1 and algo.impl._compute_grad is graphs[-1]
    algo.disable_lora()
    assert len(graphs) == 2 and algo.impl._compute_grad is graphs[-1]
    algo.configure_finetuning("full-memory")
    assert len(graphs) == 3


def test_finetuning_can_set_batch_size_and_balance_weight(pretrained, tmp_path):
    algo, dataset = pretrained()
    assert algo.config.memory_balance_weight > 0
    assert "memory_balance_loss" in algo.update(
        dataset.sample_trajectory_batch(algo.config.batch_size, algo.config.context_size)
    )
    for bad in ({"batch_size": 0}, {"batch_size": 2.5}, {"memory_balance_weight": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            algo.configure_finetuning("lora", **bad)
        assert not algo.lora_adapters  # nothing half-done
    batch, weight = algo.config.batch_size, algo.config.memory_balance_weight
    algo.configure_finetuning("lora", batch_size=batch + 3, memory_balance_weight=0.0)
    assert algo.config.batch_size == batch + 3
    metrics = algo.update(
        dataset.sample_trajectory_batch(algo.config.batch_size, algo.config.context_size)
    )
    assert "memory_balance_loss" not in metrics and "memory_slots_used" in metrics
    algo.disable_lora()
    algo.configure_finetuning("full", memory_balance_weight=weight)
    assert algo.config.batch_size == batch + 3  # a later call keeps what it does not set
    assert "memory_balance_loss" in algo.update(
        dataset.sample_trajectory_batch(algo.config.batch_size, algo.config.context_size)
    )
    algo.save(str(tmp_path / "tuned.d3"))
    assert d3rlpy.load_learnable(str(tmp_path / "tuned.d3")).config.batch_size == batch + 3


def _rate(algo):
    (rate,) = {group["lr"] for group in algo.impl.modules.optim.optim.param_groups}
    return rate


def test_finetuning_decays_the_rate_to_zero_over_decay_steps(pretrained):
    from d3rlpy_dtmem.lr_schedules import WarmupCosineSchedulerFactory

    algo, dataset = pretrained()
    warmup = algo.config.optim_factory.lr_scheduler_factory.warmup_steps
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="decay_steps"):
            algo.configure_finetuning("lora", decay_steps=bad)
        assert not algo.lora_adapters  # nothing half-done
    algo.configure_finetuning("lora", learning_rate=0.01, decay_steps=warmup + 20)
    assert algo.adapter_decay_steps == warmup + 20
    rates = []
    for _ in range(warmup + 21):
        train(algo, dataset, 1)
        rates.append(_rate(algo))  # the rate of the next update
    schedule = WarmupCosineSchedulerFactory(warmup, warmup + 20)
    assert rates == pytest.approx([0.01 * schedule.factor(t + 1) for t in range(warmup + 21)])
    after_warmup = rates[warmup - 1 : -2]
    assert all(b < a for a, b in zip(after_warmup, after_warmup[1:], strict=False))  # decreasing
    assert rates[-2] == rates[-1] == 0.0  # 0 from decay_steps on
    algo.enable_lora(name="held", learning_rate=0.01)  # no decay: held after the warmup
    assert algo.adapter_decay_steps is None
    train(algo, dataset, warmup + 20)
    assert _rate(algo) == pytest.approx(0.01)


def test_full_finetuning_saves_its_schedule_with_the_model(pretrained, tmp_path):
    from d3rlpy_dtmem.lr_schedules import WarmupCosineSchedulerFactory

    algo, dataset = pretrained()
    warmup = algo.config.optim_factory.lr_scheduler_factory.warmup_steps
    algo.configure_finetuning("full", learning_rate=2e-3, decay_steps=warmup + 10)
    schedule = algo.config.optim_factory.lr_scheduler_factory
    assert schedule == WarmupCosineSchedulerFactory(warmup, warmup + 10)
    train(algo, dataset, warmup + 2)
    algo.save(str(tmp_path / "tuned.d3"))
    loaded = d3rlpy.load_learnable(str(tmp_path / "tuned.d3"))
    assert loaded.config.optim_factory.lr_scheduler_factory == schedule
    assert _rate(loaded) == pytest.approx(_rate(algo))  # continues the decay
    train(loaded, dataset, 8)
    assert _rate(loaded) == 0.0
    loaded.configure_finetuning("full", learning_rate=2e-3)  # no decay this time: held
    assert loaded.config.optim_factory.lr_scheduler_factory.get_type() == "warmup"
    train(loaded, dataset, warmup + 10)
    assert _rate(loaded) == pytest.approx(2e-3)
