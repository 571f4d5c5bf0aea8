"""`dtmem train` and `dtmem evaluate`: outputs, TensorBoard logs, one-line errors."""

import json
import re

import d3rlpy
import numpy as np
import pytest
from click.testing import CliRunner
from evaluation_helpers import write_cartpole_dataset
from helpers import synthetic_dataset, tiny_config

from d3rlpy_dtmem.app.cli import dtmem

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def minari(minari_path):
    write_cartpole_dataset("test/cartpole-v0", episodes=3)
    write_cartpole_dataset("test/cartpole-noisy-v0", episodes=2, seed=5)


def run(command, *args):
    return CliRunner().invoke(dtmem, [command, *map(str, args)])


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG file"


def test_train_then_evaluate_end_to_end(minari, tmp_path):
    out = tmp_path / "run"
    result = run(
        "train",
        *("--datasets", "test/cartpole-v0 test/cartpole-noisy-v0"),
        *("--steps", 20, "--steps-per-epoch", 10),
        *("--eval-env", "gym:CartPole-v1", "--eval-episodes", 2, "--eval-max-steps", 40),
        *("--out", out),
    )
    assert result.exit_code == 0, result.output
    assert "final loss" in result.output and "tensorboard --logdir" in result.output
    algo = d3rlpy.load_learnable(str(out / "model.d3"))
    assert algo.config.memory_slots == 16 and algo.config.use_memory
    assert_png(out / "training_curves.png")
    evaluation = np.loadtxt(out / "logs/train/eval_gym_CartPole-v1_return.csv", delimiter=",")
    np.testing.assert_array_equal(evaluation[:, :2], [[1, 10], [2, 20]])
    assert list((out / "logs/runs/train").glob("events.out.tfevents.*"))

    report = tmp_path / "report"
    result = run(
        "evaluate",
        *("--model", out / "model.d3", "--env", "gym:CartPole-v1", "--episodes", 3),
        *("--seed", 0, "--seed", 1, "--max-episode-steps", 60, "--out", report),
    )
    assert result.exit_code == 0, result.output
    assert "| gym:CartPole-v1 | 6 |" in result.output
    summary = json.loads((report / "summary.json").read_text())
    assert summary["tasks"][0]["seeds"] == [0, 1]
    run_info = summary["provenance"]
    assert run_info["model"] == str((out / "model.d3").resolve()) and run_info["adapter"] is None
    assert run_info["envs"] == ["gym:CartPole-v1"] and run_info["seeds"] == [0, 1]
    assert run_info["max_episode_steps"] == 60 and run_info["episodes_per_seed"] == 3
    assert set(run_info["target_return"]) == {"gym:CartPole-v1"}
    assert run_info["versions"]["d3rlpy"] == d3rlpy.__version__
    assert "## Run" in (report / "report.md").read_text()
    assert len((report / "episodes.csv").read_text().splitlines()) == 1 + 6
    assert_png(report / "return.png")
    assert_png(report / "memory_activity.png")


def test_train_without_memory_on_memory_mapped_observations(minari, tmp_path):
    out = tmp_path / "ablation"
    result = run(
        "train",
        *("--datasets", "test/cartpole-v0", "--steps", 4, "--steps-per-epoch", 4),
        *("--no-memory", "--no-tensorboard", "--out", out, "--mmap-dir", tmp_path / "obs"),
    )
    assert result.exit_code == 0, result.output
    assert not d3rlpy.load_learnable(str(out / "model.d3")).config.use_memory
    assert not (out / "logs/runs").exists()
    assert len(list((tmp_path / "obs").glob("test__cartpole-*.npy"))) == 1


@pytest.fixture
def atari_model(tmp_path):
    """A tiny pixel model with 18 actions: the shape of converted DQN-Replay data."""
    algo = tiny_config(pixel=True).create()
    algo.build_with_dataset(synthetic_dataset(discrete=True, pixel=True, action_size=18))
    algo.save(str(tmp_path / "atari.d3"))
    return tmp_path / "atari.d3"


def test_evaluate_atari_scores_human_and_dqn_normalized(atari_model, tmp_path):
    out = tmp_path / "pong"
    result = run(
        "evaluate",
        *("--model", atari_model, "--env", "atari:Pong", "--episodes", 2),
        *("--max-episode-steps", 12, "--no-memory-plot", "--out", out),
    )
    assert result.exit_code == 0, result.output
    human, dqn = json.loads((out / "summary.json").read_text())["tasks"]
    assert human["score_name"] == "human-normalized score"
    assert dqn["score_name"] == "DQN-normalized score"
    # 12 steps of Pong score at most a point or two: about random play
    assert human["score"]["point"] == pytest.approx((human["mean_return"] + 20.7) / 35.3)
    assert dqn["score"]["point"] == pytest.approx((dqn["mean_return"] + 20.7) / 37.31)
    assert_png(out / "human-normalized-score.png")
    assert_png(out / "dqn-normalized-score.png")
    assert not (out / "memory_activity.png").exists()
    # 12 steps cut every episode: marked, and not aggregated into normalized scores
    summary = json.loads((out / "summary.json").read_text())
    assert human["truncated"] == dqn["truncated"] == 2
    assert summary["aggregates"] == {}
    assert summary["not_aggregated"] == {
        "human-normalized score": ["atari:Pong"],
        "DQN-normalized score": ["atari:Pong"],
    }
    assert "Not aggregated (human-normalized score): atari:Pong" in result.output
    allowed = run(
        "evaluate",
        *("--model", atari_model, "--env", "atari:Pong", "--episodes", 2),
        *("--max-episode-steps", 12, "--no-memory-plot", "--allow-truncated"),
        *("--out", tmp_path / "allowed"),
    )
    assert allowed.exit_code == 0, allowed.output
    aggregates = json.loads((tmp_path / "allowed" / "summary.json").read_text())["aggregates"]
    assert set(aggregates) == {"human-normalized score", "DQN-normalized score"}


def test_epoch_evaluation_logs_return_human_and_dqn_scores(atari_model):
    from d3rlpy_dtmem.app.jobs import _epoch_evaluation
    from d3rlpy_dtmem.evaluation.envspec import parse_env_spec

    algo = d3rlpy.load_learnable(str(atari_model))
    evaluation = _epoch_evaluation([parse_env_spec("atari:Pong", max_episode_steps=8)], 1, 0)
    metrics = evaluation(algo)
    assert set(metrics) == {
        "eval_atari_Pong_return",
        "eval_atari_Pong_score",
        "eval_atari_Pong_dqn_score",
    }
    mean_return = metrics["eval_atari_Pong_return"]
    assert metrics["eval_atari_Pong_score"] == pytest.approx((mean_return + 20.7) / 35.3)
    assert metrics["eval_atari_Pong_dqn_score"] == pytest.approx((mean_return + 20.7) / 37.31)


def test_evaluate_with_an_adapter_plots_its_memory(atari_model, tmp_path):
    algo = d3rlpy.load_learnable(str(atari_model))
    algo.enable_lora(rank=2)
    algo.save_adapter(tmp_path / "adapter.pt")
    out = tmp_path / "adapted"
    result = run(
        "evaluate",
        *("--model", atari_model, "--adapter", tmp_path / "adapter.pt", "--env", "atari:Pong"),
        *("--episodes", 1, "--max-episode-steps", 10, "--out", out),
    )
    assert result.exit_code == 0, result.output
    assert_png(out / "memory_activity.png")


def test_bad_evaluate_inputs_give_one_line_errors(atari_model, tmp_path):
    other = tiny_config(pixel=True).create()
    other.build_with_dataset(synthetic_dataset(discrete=True, pixel=True, action_size=18, seed=1))
    other.enable_lora()
    other.save_adapter(tmp_path / "other.pt")
    cases = [
        (["--env", "atari:Pongg"], "unknown Atari game 'Pongg' (did you mean 'Pong'?)"),
        (["--env", "chess:Pong"], "unknown kind 'chess'"),
        (["--env", "gym:CartPole-v1"], "observations (4,) do not match the model's (4, 84, 84)"),
        (["--env", "atari:Pong", "--adapter", tmp_path / "other.pt"], "another base model"),
        (["--env", "atari:Pong", "--adapter", tmp_path / "none.pt"], "no such adapter file"),
        (["--env", "atari:Pong", "--target-return", "best"], "neither a number nor 'expert'"),
        (["--env", "atari:Pong", "--episodes", 0], "Invalid value for '--episodes'"),
    ]
    for args, message in cases:
        result = run("evaluate", "--model", atari_model, *args, "--out", tmp_path / "out")
        assert result.exit_code != 0, args
        assert message in result.output, result.output
        assert "Traceback" not in result.output
    result = run("evaluate", "--model", tmp_path / "no.d3", "--env", "atari:Pong", "--out", "x")
    assert result.exit_code != 0 and "no.d3: no such model file" in result.output


def test_bad_train_inputs_give_one_line_errors(minari, tmp_path):
    (tmp_path / "used" / "logs" / "train").mkdir(parents=True)
    (tmp_path / "used" / "logs" / "train" / "model_4.d3").write_bytes(b"a checkpoint")
    common = ("--steps", 4, "--steps-per-epoch", 4)
    cases = [
        (["--datasets", "test/missing-v0", *common], "unknown Minari dataset 'test/missing-v0'"),
        (["--datasets", "test/missing-v0", *common, "--device", "gpu"], "'gpu' is not a torch"),
        (["--datasets", "test/cartpole-v0", *common, "--preset", "huge"], "Invalid value"),
        (
            ["--datasets", "test/cartpole-v0", *common, "--eval-env", "atari:Pong"],
            "observations (4, 84, 84) do not match the model's (4,)",
        ),
    ]
    for args, message in cases:
        result = run("train", *args, "--out", tmp_path / "out")
        assert result.exit_code != 0, args
        assert message in result.output, result.output
        assert "Traceback" not in result.output
    result = run("train", "--datasets", "test/cartpole-v0", *common, "--out", tmp_path / "used")
    assert result.exit_code != 0 and "already holds a training run" in result.output


def test_any_step_count_trains_with_a_shorter_last_epoch(minari, tmp_path):
    out = tmp_path / "odd"
    result = run(
        "train", "--datasets", "test/cartpole-v0", "--steps", 10, "--steps-per-epoch", 4,
        "--no-tensorboard", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in (out / "logs" / "train" / "loss.csv").read_text().split()]
    assert [(int(epoch), int(step)) for epoch, step, _ in rows] == [(1, 4), (2, 8), (3, 10)]
    assert sorted(p.name for p in (out / "logs" / "train").glob("model_*.d3")) == [
        "model_10.d3", "model_4.d3", "model_8.d3",
    ]  # fmt: skip
    from d3rlpy_dtmem.checkpoint import load_checkpoint

    assert load_checkpoint(out / "model.d3").grad_step == 10


@pytest.mark.parametrize("command", ["train", "finetune", "evaluate"])
@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("gpu", "device 'gpu' is not a torch device; available: cpu:0"),
        ("cuda:7", "device 'cuda:7'"),
        ("tpu:0", "is not a torch device"),
    ],
)
def test_a_bad_device_is_one_line_before_any_work(command, device, message, tmp_path):
    # the datasets and model do not exist: the device is checked first
    args = {
        "train": ["--datasets", "test/none-v0", "--out", tmp_path / "o"],
        "finetune": ["--model", tmp_path / "m.d3", "--datasets", "x/y-v0", "--out", tmp_path / "o"],
        "evaluate": ["--model", tmp_path / "m.d3", "--env", "atari:Pong", "--out", tmp_path / "o"],
    }[command]
    result = run(command, *args, "--device", device)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_a_run_stopped_before_its_first_checkpoint_can_be_run_again(minari, tmp_path):
    out = tmp_path / "early"
    (out / "logs" / "train").mkdir(parents=True)
    (out / "logs" / "train" / "loss.csv").write_text("1,2,0.5\n")  # logged, never saved
    result = run(
        "train", "--datasets", "test/cartpole-v0", "--steps", 4, "--steps-per-epoch", 4,
        "--no-tensorboard", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = (out / "logs" / "train" / "loss.csv").read_text().split()
    assert [row.split(",")[:2] for row in rows] == [["1", "4"]]  # the stale row is gone


def test_train_prints_a_short_readable_console_and_logs_details_to_a_file(minari, tmp_path):
    out = tmp_path / "quiet"
    result = run(
        "train", "--datasets", "test/cartpole-v0", "--steps", 20, "--steps-per-epoch", 10,
        "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) <= 40, result.output
    assert lines[0].startswith("training DT-Mem (16 slots, memory) on test/cartpole-v0: ")
    assert "20 steps on cpu:0" in lines[0]
    epochs = re.findall(
        r"epoch (\d+) \(step (\d+)\): action_loss [\d.]+, loss [\d.]+", result.output
    )
    assert epochs == [("1", "10"), ("2", "20")]
    assert "\x1b[" not in result.output  # no ANSI codes when not a terminal
    assert "params=" not in result.output and "DatasetInfo" not in result.output
    log = (out / "d3rlpy.log").read_text()
    assert "params=" in log and "\x1b[" not in log  # d3rlpy's details, plain
    assert not list(out.rglob("*_grad.csv"))  # no gradient logging unless asked
    verbose = run(
        "train", "--datasets", "test/cartpole-v0", "--steps", 10, "--steps-per-epoch", 10,
        "--out", tmp_path / "loud", "--verbose",
    )  # fmt: skip
    assert verbose.exit_code == 0, verbose.output
    assert "params=" in verbose.output and "\x1b[" not in verbose.output


def test_the_console_routing_ends_with_the_command(minari, tmp_path):
    import structlog

    before = structlog.get_config()
    result = run(
        "train", "--datasets", "test/cartpole-v0", "--steps", 10, "--steps-per-epoch", 10,
        "--out", tmp_path / "o", "--verbose",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert structlog.get_config() == before  # d3rlpy's own configuration is back


def test_one_out_rule_refuse_unless_overwrite_which_cleans_what_it_replaces(minari, tmp_path):
    model = tmp_path / "run"
    common = ("--datasets", "test/cartpole-v0", "--steps", 4, "--steps-per-epoch", 4)
    assert run("train", *common, "--no-tensorboard", "--out", model).exit_code == 0
    again = run("train", *common, "--no-tensorboard", "--out", model)
    assert again.exit_code == 1 and "--overwrite to replace it" in again.output
    replaced = run("train", *common, "--no-tensorboard", "--out", model, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert [p.name for p in (model / "logs" / "train").glob("model_*.d3")] == ["model_4.d3"]

    report = tmp_path / "report"
    evaluate = ("evaluate", "--model", model / "model.d3", "--env", "gym:CartPole-v1")
    options = ("--episodes", 1, "--max-episode-steps", 5, "--no-memory-plot", "--out", report)
    assert run(*evaluate, *options).exit_code == 0
    (report / "stale-score.png").write_bytes(b"old plot")
    refused = run(*evaluate, *options)
    assert refused.exit_code == 1 and "already holds an evaluation report" in refused.output
    assert run(*evaluate, *options, "--overwrite").exit_code == 0
    assert not (report / "stale-score.png").exists() and (report / "report.md").is_file()


def test_train_and_evaluate_in_the_episode_scope(minari, tmp_path):
    out = tmp_path / "run"
    result = run(
        "train",
        *("--datasets", "test/cartpole-v0", "--steps", 4, "--steps-per-epoch", 2),
        *("--memory-scope", "episode", "--memory-segments", 2, "--out", out),
    )
    assert result.exit_code == 0, result.output
    assert "episode memory" in result.output
    algo = d3rlpy.load_learnable(str(out / "model.d3"))
    config = algo.config
    assert (config.memory_scope, config.memory_segments, config.memory_balance_weight) == (
        "episode",
        2,
        0.0,
    )
    result = run(
        "evaluate",
        *("--model", out / "model.d3", "--env", "gym:CartPole-v1", "--episodes", 2),
        *("--max-episode-steps", 30, "--out", tmp_path / "report"),
    )
    assert result.exit_code == 0, result.output
    refused = run(
        "train",
        *("--datasets", "test/cartpole-v0", "--steps", 4, "--no-memory"),
        *("--memory-scope", "episode", "--out", tmp_path / "none"),
    )
    assert refused.exit_code != 0 and "use_memory=True" in refused.output
    assert len(refused.output.strip().splitlines()) == 1
