"""Every example runs: ``--help``, and its smallest settings end to end."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from atari_fixtures import write_replay

EXAMPLES = Path(__file__).parents[1] / "examples"


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_help(name):
    assert "usage" in run_example(name, "--help").lower()


def test_evaluate_with_d3rlpy():
    output = run_example("evaluate_with_d3rlpy.py", "--steps", "5", "--trials", "1")
    assert "CartPole-v1: mean return" in output


def test_atari_pretrain(tmp_path):
    write_replay(tmp_path / "replay", "Assault")
    output = run_example(
        "atari_pretrain.py",
        "--replay-dir",
        str(tmp_path / "replay"),
        "--games",
        "Assault",
        "--steps",
        "3",
        "--out",
        str(tmp_path / "run"),
        "--mmap-dir",
        str(tmp_path / "frames"),
    )
    assert "pre-trained on 1 games" in output
    assert (tmp_path / "run" / "pretrained.d3").is_file()
    (store,) = (tmp_path / "frames").glob("dqn-replay__Assault-run1-v0-*.npy")
    frames = np.load(store, mmap_mode="r")
    assert frames.shape[1:] == (1, 84, 84) and frames.dtype == np.uint8  # single frames


def test_metaworld_ml45(tmp_path):
    output = run_example(
        "metaworld_ml45.py",
        "--train-tasks",
        "reach-v3",
        "push-v3",
        "--test-tasks",
        "door-unlock-v3",
        "--episodes",
        "1",
        "--max-episode-steps",
        "40",
        "--steps",
        "5",
        "--finetune-steps",
        "5",
        "--eval-episodes",
        "1",
        "--out",
        str(tmp_path / "run"),
    )
    assert "door-unlock-v3" in output.splitlines()[-1]
    assert (tmp_path / "run" / "adapters" / "door-unlock-v3.pt").is_file()


def test_atari_finetune_lora(tmp_path):
    write_replay(tmp_path / "replay", "Assault")
    write_replay(tmp_path / "replay", "Pong")
    run_example(
        "atari_pretrain.py",
        "--replay-dir",
        str(tmp_path / "replay"),
        "--games",
        "Assault",
        "--steps",
        "2",
        "--out",
        str(tmp_path / "base"),
    )
    output = run_example(
        "atari_finetune_lora.py",
        "--model",
        str(tmp_path / "base" / "pretrained.d3"),
        "--replay-dir",
        str(tmp_path / "replay"),
        "--game",
        "Pong",
        "--steps",
        "2",
        "--episodes",
        "1",
        "--max-episode-steps",
        "20",
        "--out",
        str(tmp_path / "lora"),
    )
    assert "Pong: mean return" in output
    assert (tmp_path / "lora" / "Pong.pt").is_file()


def test_ddp_torchrun(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node",
            "2",
            str(EXAMPLES / "ddp_torchrun.py"),
            "--steps",
            "2",
            "--lora-steps",
            "2",
            "--out",
            str(tmp_path / "ddp"),
            "--mmap-dir",
            str(tmp_path / "frames"),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert list((tmp_path / "ddp").rglob("*.d3")), "rank 0 saved the model"
    stores = sorted(p.name.split("-")[0] for p in (tmp_path / "frames").glob("*.npy"))
    assert stores == ["cartpole__careful", "cartpole__noisy"]  # one per dataset, not per rank


def test_tmaze_memory():
    output = run_example("tmaze_memory.py", "--steps", "5", "--episodes", "4", "--trials", "2")
    assert "memory_scope='episode': success" in output
