"""The whole network: causality for both action spaces, ablation switch, gradients."""

import pytest
import torch
from helpers import tiny_config

from d3rlpy_dtmem.nn import DTMemModel

STEPS = 6


def build_model(
    discrete: bool, use_memory: bool = True, addressing: str = "slot_keys"
) -> DTMemModel:
    algo = tiny_config(
        action_type="discrete" if discrete else "continuous",
        context_size=STEPS,
        use_memory=use_memory,
        memory_addressing=addressing,
    ).create()
    algo.create_impl((5,), 4)
    model = algo.impl.modules.model
    model.eval()  # dropout off
    return model


def random_window(discrete: bool, batch: int = 3):
    generator = torch.Generator().manual_seed(1)
    observations = torch.randn(batch, STEPS, 5, generator=generator)
    if discrete:
        actions = torch.randint(0, 4, (batch, STEPS, 1), generator=generator).float()
    else:
        actions = torch.rand(batch, STEPS, 4, generator=generator) * 2 - 1
    returns = torch.randint(-5, 30, (batch, STEPS, 1), generator=generator).float()
    timesteps = torch.arange(1, STEPS + 1).repeat(batch, 1)
    valid = torch.ones(batch, STEPS)
    return [observations, actions, returns, timesteps, valid]


def perturb(window, field: str, step: int, discrete: bool):
    window = [tensor.clone() for tensor in window]
    index = {"state": 0, "action": 1, "return": 2}[field]
    if field == "action" and discrete:
        window[1][:, step] = (window[1][:, step] + 1) % 4
    else:
        window[index][:, step] += 3.0 + torch.randn_like(window[index][:, step])
    return window


@pytest.mark.parametrize("discrete", [True, False])
@pytest.mark.parametrize(
    "use_memory,addressing", [(True, "slot_keys"), (True, "content"), (False, "slot_keys")]
)
def test_action_prediction_is_causal(discrete, use_memory, addressing):
    model = build_model(discrete, use_memory, addressing)
    window = random_window(discrete)
    with torch.no_grad():
        base = model(*window).action
        for t in range(STEPS):
            # a_t and every token of a later step must not move the prediction of a_t
            changes = [("action", t)] + [
                (field, later)
                for later in range(t + 1, STEPS)
                for field in ("state", "return", "action")
            ]
            for field, step in changes:
                out = model(*perturb(window, field, step, discrete)).action
                torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], atol=1e-6, rtol=0)
            # ... while s_t and R̂_t do move it (the test can fail)
            for field in ("state", "return"):
                out = model(*perturb(window, field, t, discrete)).action
                assert (out[:, t] - base[:, t]).abs().max() > 1e-6, (field, t)


@pytest.mark.parametrize("discrete", [True, False])
def test_return_prediction_does_not_see_its_own_return(discrete):
    model = build_model(discrete)
    window = random_window(discrete)
    with torch.no_grad():
        base = model(*window).return_to_go
        out = model(*perturb(window, "return", 2, discrete)).return_to_go
    torch.testing.assert_close(out[:, :3], base[:, :3], atol=1e-6, rtol=0)


@pytest.mark.parametrize("addressing", ["slot_keys", "content"])
def test_padded_steps_do_not_change_real_predictions(addressing):
    model = build_model(discrete=True, addressing=addressing)
    window = random_window(discrete=True)
    window[4][:, :2] = 0.0  # the first two steps are padding
    with torch.no_grad():
        base = model(*window).action
        for field in ("state", "return", "action"):
            out = model(*perturb(window, field, 1, True)).action
            torch.testing.assert_close(out[:, 2:], base[:, 2:], atol=1e-6, rtol=0)


def test_no_memory_is_the_same_trunk_without_memory():
    with_memory = build_model(discrete=True, use_memory=True)
    without = build_model(discrete=True, use_memory=False)
    assert without.memory is None and with_memory.memory is not None
    names_with = {n for n, _ in with_memory.named_parameters() if not n.startswith("memory.")}
    names_without = {n for n, _ in without.named_parameters()}
    assert names_with == names_without
    memory_size = sum(p.numel() for p in with_memory.memory.parameters())
    total = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert total(with_memory) - total(without) == memory_size


@pytest.mark.parametrize("discrete", [True, False])
@pytest.mark.parametrize("addressing", ["slot_keys", "content"])
def test_every_parameter_gets_a_gradient(discrete, addressing):
    model = build_model(discrete, addressing=addressing)
    model.train()
    output = model(*random_window(discrete))
    assert output.memory_address.shape == (3, STEPS, model.memory.memory_slots)
    (output.action.sum() + output.reward.sum() + output.return_to_go.sum()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_timesteps_beyond_max_timestep_are_clipped():
    model = build_model(discrete=True)
    window = random_window(discrete=True)
    with torch.no_grad():
        at_max = model(*window[:3], torch.full((3, STEPS), 200), window[4]).action
        beyond = model(*window[:3], torch.full((3, STEPS), 10_000), window[4]).action
    torch.testing.assert_close(at_max, beyond)
