"""GPU fast paths and their CPU fallbacks: bf16 autocast, compile_graph, pinned batches."""

import d3rlpy
import numpy as np
import pytest
import torch
from d3rlpy.preprocessing import MinMaxActionScaler, MultiplyRewardScaler
from d3rlpy.torch_utility import TorchTrajectoryMiniBatch
from helpers import synthetic_dataset, tiny_config
from test_data_sampler import FIELDS, two_task_buffer

from d3rlpy_dtmem.algo import DTMemConfig
from d3rlpy_dtmem.data import batch_to_device, pin_batch
from d3rlpy_dtmem.nn.memory import WorkingMemory

NO_DROPOUT = dict(attn_dropout=0.0, resid_dropout=0.0, embed_dropout=0.0)


def built(discrete, **overrides):
    d3rlpy.seed(0)
    dataset = synthetic_dataset(discrete=discrete)
    algo = tiny_config(**NO_DROPOUT, **overrides).create()
    algo.build_with_dataset(dataset)
    return algo, dataset.sample_trajectory_batch(8, length=5)


@pytest.mark.parametrize("discrete", [True, False])
def test_bf16_autocast_update_on_cpu_is_close_to_float32_and_keeps_float32_weights(discrete):
    plain, batch = built(discrete)
    mixed, _ = built(discrete, autocast_dtype="bfloat16")
    mixed.impl.model.load_state_dict(plain.impl.model.state_dict())
    torch_batch = TorchTrajectoryMiniBatch.from_batch(batch, "cpu:0")
    with torch.no_grad():
        want = plain.impl.compute_loss(torch_batch)
        got = mixed.impl.compute_loss(torch_batch)
    for name, value in got.items():
        assert value.dtype == torch.float32 and torch.isfinite(value), name
        torch.testing.assert_close(value, want[name], rtol=0.05, atol=0.02, msg=name)
    assert got["loss"] != want["loss"]  # bf16 really ran: the values differ slightly

    before = {name: p.detach().clone() for name, p in mixed.impl.model.named_parameters()}
    metrics = mixed.update(batch)
    assert all(np.isfinite(value) for value in metrics.values()), metrics
    for name, parameter in mixed.impl.model.named_parameters():
        assert parameter.dtype == torch.float32, name
    moved = [n for n, p in mixed.impl.model.named_parameters() if not torch.equal(p, before[n])]
    assert len(moved) > len(before) // 2  # the update trained


def test_memory_reads_in_float32_inside_bf16_autocast():
    torch.manual_seed(0)
    memory = WorkingMemory(width=16, memory_slots=8)
    inputs = [torch.randn(2, 30, 16).bfloat16() for _ in range(2)]  # 30 steps: two blocks
    valid = torch.ones(2, 30, dtype=torch.bool)
    want = memory(inputs[0].float(), inputs[1].float(), valid)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = memory(*inputs, valid)
        assert torch.nn.Linear(16, 16)(want.output).dtype == torch.bfloat16  # autocast is on
    for name in ("output", "address", "write"):
        assert getattr(got, name).dtype == torch.float32, name
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=1e-6, atol=1e-6)


def test_a_bf16_update_runs_the_trunk_in_bf16_and_the_memory_in_float32():
    algo, batch = built(True, autocast_dtype="bfloat16")
    model = algo.impl.model
    trunk_linear = next(m for m in model.trunk.modules() if isinstance(m, torch.nn.Linear))
    seen = {}
    hooks = [
        module.register_forward_hook(
            lambda module, inputs, output, name=name: seen.update(
                {name: getattr(output, "output", output).dtype}
            )
        )
        for name, module in (("trunk", trunk_linear), ("memory", model.memory))
    ]
    algo.update(batch)
    for hook in hooks:
        hook.remove()
    assert seen == {"trunk": torch.bfloat16, "memory": torch.float32}


def test_autocast_dtype_is_validated_and_saved(tmp_path):
    with pytest.raises(ValueError, match="invalid autocast_dtype='float16'"):
        DTMemConfig(autocast_dtype="float16")
    algo, _ = built(True, autocast_dtype="bfloat16")
    algo.save(str(tmp_path / "model.d3"))
    assert d3rlpy.load_learnable(str(tmp_path / "model.d3")).config.autocast_dtype == "bfloat16"


def test_compile_graph_falls_back_to_the_eager_update_on_cpu():
    eager, batch = built(True)
    graph, _ = built(True, compile_graph=True)
    assert graph.config.compile_graph and not graph.compiled
    graph.impl.model.load_state_dict(eager.impl.model.state_dict())
    assert graph.update(batch) == eager.update(batch)


def test_pinned_prefetch_gives_the_same_batches_and_needs_prefetch():
    buffer = two_task_buffer

    with pytest.raises(ValueError, match="pin_memory needs prefetch >= 1"):
        buffer(0, True)
    plain, pinned = buffer(0, False), buffer(2, True)
    for _ in range(3):
        want, got = plain.sample_trajectory_batch(6, 3), pinned.sample_trajectory_batch(6, 3)
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))
        # pinned only where there is CUDA to pin for; unchanged otherwise
        pinned_memory = torch.from_numpy(got.observations).is_pinned()
        assert pinned_memory == torch.cuda.is_available()
    pinned.close()
    assert pin_batch(want) is want or torch.cuda.is_available()


def test_batch_to_device_gives_d3rlpy_values():
    dataset = synthetic_dataset(discrete=False)
    batch = dataset.sample_trajectory_batch(4, length=5)
    scalers = dict(
        action_scaler=MinMaxActionScaler(minimum=-np.ones(3), maximum=np.ones(3)),
        reward_scaler=MultiplyRewardScaler(0.5),
    )
    want = TorchTrajectoryMiniBatch.from_batch(batch, "cpu:0", **scalers)
    got = batch_to_device(batch, "cpu:0", **scalers)
    for name in ("observations", "actions", "rewards", "returns_to_go", "terminals", "masks"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=0, atol=0)
    assert got.timesteps.dtype == torch.int64 and torch.equal(got.timesteps, want.timesteps)
