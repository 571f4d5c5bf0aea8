"""Memory health: address entropy, slots used and the balance loss, on the update path."""

import math

import d3rlpy
import numpy as np
import pytest
import torch
from helpers import tiny_config

from d3rlpy_dtmem.nn.usage import address_entropy, balance_loss, slots_used


def naive_metrics(address, valid):
    rows = [
        address[b, k]
        for b in range(address.shape[0])
        for k in range(address.shape[1])
        if valid[b, k]
    ]
    entropy = np.mean([-(r * r.clamp_min(1e-12).log()).sum().item() for r in rows])
    tops = [int(r.argmax()) for r in rows]
    used = sum(1 for n in set(tops) if tops.count(n) >= 0.01 * len(rows))
    return entropy, used


def test_metrics_match_a_naive_loop_and_ignore_padding():
    torch.manual_seed(0)
    address = torch.softmax(3 * torch.randn(4, 6, 10), -1)
    valid = torch.ones(4, 6)
    valid[0, :3] = 0
    entropy, used = naive_metrics(address, valid)
    assert address_entropy(address, valid).item() == pytest.approx(entropy, rel=1e-5)
    assert slots_used(address, valid) == used
    padded = address.clone()
    padded[0, :3] = torch.eye(10)[0]  # padded steps all on slot 0: not counted
    assert address_entropy(padded, valid).item() == pytest.approx(entropy, rel=1e-5)


def test_one_slot_versus_spread():
    valid = torch.ones(2, 50)
    one = torch.zeros(2, 50, 8)
    one[..., 3] = 1.0
    assert slots_used(one, valid) == 1 and address_entropy(one, valid).item() == 0.0
    assert balance_loss(one, valid).item() == pytest.approx(math.log(8))
    spread = torch.eye(8).repeat(13, 1)[:100].view(2, 50, 8)  # each step one slot, all slots
    assert slots_used(spread, valid) == 8
    assert balance_loss(spread, valid).item() == pytest.approx(0.0, abs=1e-2)
    uniform = torch.full((1, 3, 8), 1 / 8)  # every step reads every slot alike
    assert balance_loss(uniform, torch.ones(1, 3)).item() == pytest.approx(math.log(8))
    assert slots_used(one, torch.zeros(2, 50)) == 0


def task_dataset(tasks=4, episodes=6, length=20, seed=0):
    """Tasks whose observations differ (a task-specific offset) and whose rules differ."""
    rng = np.random.default_rng(seed)
    offsets = 3.0 * np.random.default_rng(99).normal(size=(tasks, 6))
    parts = []
    for task in range(tasks):
        for _ in range(episodes):
            observations = (rng.normal(size=(length, 6)) + offsets[task]).astype(np.float32)
            actions = (observations[:, :3].argmax(-1) + task) % 3
            parts.append((observations, actions, np.ones(length, dtype=np.float32)))
    observations, actions, rewards = (np.concatenate(x) for x in zip(*parts, strict=True))
    terminals = np.zeros(len(actions), dtype=np.float32)
    terminals[length - 1 :: length] = 1.0
    return d3rlpy.dataset.MDPDataset(
        observations,
        actions,
        rewards,
        terminals,
        action_space=d3rlpy.ActionSpace.DISCRETE,
        action_size=3,
    )


@pytest.mark.parametrize("addressing", ["slot_keys", "content"])
def test_tasks_that_differ_use_several_slots_during_training(addressing):
    d3rlpy.seed(0)
    dataset = task_dataset()
    algo = tiny_config(memory_slots=32, batch_size=16, memory_addressing=addressing).create()
    algo.build_with_dataset(dataset)
    metrics = [algo.update(dataset.sample_trajectory_batch(16, 5)) for _ in range(60)]
    last = metrics[-10:]
    assert min(m["memory_slots_used"] for m in last) >= 4
    assert max(m["memory_address_entropy"] for m in last) < math.log(32) - 0.05  # not uniform
    assert last[-1]["memory_balance_loss"] > 0  # on by default


def test_balance_weight_adds_the_balance_loss():
    d3rlpy.seed(0)
    dataset = task_dataset()
    algo = tiny_config(memory_slots=32, memory_balance_weight=0.5).create()
    algo.build_with_dataset(dataset)
    metrics = algo.update(dataset.sample_trajectory_batch(8, 5))
    total = metrics["action_loss"] + metrics["reward_loss"] + metrics["return_loss"]
    assert metrics["loss"] == pytest.approx(total + 0.5 * metrics["memory_balance_loss"], rel=1e-5)
    assert 0 < metrics["memory_balance_loss"] < math.log(32)


def test_no_memory_reports_no_memory_metrics():
    dataset = task_dataset(tasks=1)
    algo = tiny_config(use_memory=False).create()
    algo.build_with_dataset(dataset)
    assert not any(
        k.startswith("memory_") for k in algo.update(dataset.sample_trajectory_batch(8, 5))
    )


def test_config_checks_memory_fields():
    with pytest.raises(ValueError, match="memory_addressing"):
        tiny_config(memory_addressing="location")
    with pytest.raises(ValueError, match="memory_balance_weight"):
        tiny_config(memory_balance_weight=-1.0)
