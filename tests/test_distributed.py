"""DDP training: 2 CPU processes (gloo, torchrun) keep identical replicas, with and without LoRA."""

import os
import subprocess
import sys
from pathlib import Path

import d3rlpy
import pytest
import torch
from helpers import synthetic_dataset, tiny_config, write_policy_dataset

import d3rlpy_dtmem
from d3rlpy_dtmem.app.distributed import (
    current_rank,
    init_distributed,
    is_main_process,
    rank_logger_adapter,
    rank_seed,
    replica_fingerprints,
)

TESTS = Path(__file__).parent
ROOT = Path(d3rlpy_dtmem.__file__).parents[1]
STEPS = 4


def run_torchrun(script: Path, *args: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", str(script), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture
def worker_env(minari_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.slow
def test_two_ranks_keep_identical_replicas_with_and_without_lora(tmp_path, worker_env):
    datasets = [write_policy_dataset("ddp/task0-v0"), write_policy_dataset("ddp/task1-v0", 1)]
    out = tmp_path / "out"
    out.mkdir()
    args = ["--out", str(out), "--datasets", *datasets, "--steps", str(STEPS)]
    run_torchrun(TESTS / "ddp_worker.py", *args, env=worker_env)
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1)]

    # each rank sampled its own batches (sampler seed = base + rank)...
    assert not torch.equal(ranks[0]["first_batch"], ranks[1]["first_batch"])
    assert not torch.equal(ranks[0]["unseeded_batch"], ranks[1]["unseeded_batch"])
    # ...yet the replicas stay identical, bit for bit, in both phases
    for phase in ("base", "lora", "episode"):
        assert ranks[0][phase].keys() == ranks[1][phase].keys()
        for key, value in ranks[0][phase].items():
            assert torch.equal(value, ranks[1][phase][key]), f"{phase}: {key} differs"
    assert ranks[0]["fingerprints"] == ranks[1]["fingerprints"]
    assert len(set(ranks[0]["fingerprints"])) == 1
    assert ranks[0]["grad_step"] == 2 * STEPS

    base, lora = ranks[0]["base"], ranks[0]["lora"]
    lora_b = [k for k in lora if ".lora_B." in k]
    assert lora_b and all(lora[k].abs().sum() > 0 for k in lora_b), "the adapter did not train"
    for key, value in base.items():  # the base weights were frozen in the LoRA phase
        lora_key = key if key in lora else key.replace(".weight", ".base_layer.weight")
        lora_key = lora_key if lora_key in lora else key.replace(".bias", ".base_layer.bias")
        assert torch.equal(lora[lora_key], value), key

    # only rank 0 logged and saved
    logged = sorted(p.name for p in (out / "logs").iterdir())
    assert logged == ["episode-rank0", "lora-rank0", "rank0"]
    assert (out / "logs" / "rank0" / f"model_{STEPS}.d3").is_file()


def test_example_runs_with_help():
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ddp_torchrun.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "torchrun" in done.stdout and "--lora-steps" in done.stdout


def test_single_process_helpers_act_as_rank_0(tmp_path):
    factory = d3rlpy.logging.FileAdapterFactory(root_dir=str(tmp_path))
    assert current_rank() == 0 and is_main_process()
    assert rank_seed(11) == 11
    assert rank_logger_adapter(factory) is factory
    model = torch.nn.Linear(3, 2)
    (single,) = replica_fingerprints(model)
    with torch.no_grad():
        model.weight[0, 0] += 1.0
    assert replica_fingerprints(model) == [replica_fingerprints(model)[0]] != [single]


def test_init_outside_torchrun_names_the_missing_variables(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="RANK, WORLD_SIZE.*not set; launch the script with"):
        init_distributed()


def test_ddp_without_a_process_group_is_refused():
    algo = tiny_config().create(enable_ddp=True)
    with pytest.raises(RuntimeError, match="enable_ddp=True needs a process group"):
        algo.build_with_dataset(synthetic_dataset(discrete=True))
