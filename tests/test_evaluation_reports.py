"""Reports, plots, TensorBoard logs and memory activity."""

import dataclasses
import json
import struct

import d3rlpy
import numpy as np
import pytest
from d3rlpy.algos import GreedyTransformerActionSampler
from evaluation_helpers import cartpole, train_cartpole_dtmem

from d3rlpy_dtmem.app.cartpole import collect_cartpole
from d3rlpy_dtmem.app.presets import preset_config
from d3rlpy_dtmem.evaluation import EvaluationResult, evaluate
from d3rlpy_dtmem.evaluation.activity import memory_activity, record_trajectory
from d3rlpy_dtmem.evaluation.aggregate import Interval
from d3rlpy_dtmem.evaluation.loggers import EvaluationAdapterFactory, training_logger
from d3rlpy_dtmem.evaluation.plots import (
    plot_memory_activity,
    plot_task_scores,
    plot_training_curves,
)
from d3rlpy_dtmem.evaluation.report import TaskResult, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) of a PNG file, after checking its signature and header chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG file"
    assert data[12:16] == b"IHDR"
    assert data[-8:-4] == b"IEND"
    return struct.unpack(">II", data[16:24])


def test_task_score_bars_are_a_png(tmp_path):
    intervals = [Interval(0.5, 0.2, 0.9), Interval(1.2, 1.0, 1.3), Interval(-0.1, -0.3, 0.0)]
    path = plot_task_scores(["Pong", "Breakout", "Alien"], intervals, tmp_path / "s.png")
    width, height = png_size(path)
    assert width >= 400 and height == 350  # at least 4 x 3.5 inches at 100 dpi
    assert not list(tmp_path.glob(".*partial*")), "temporary file left behind"
    with pytest.raises(ValueError, match="one interval per label"):
        plot_task_scores(["Pong"], intervals, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def _result(returns, successes=None):
    returns = np.asarray(returns, dtype=float)
    return EvaluationResult(
        seeds=tuple(range(returns.shape[0])),
        returns=returns,
        lengths=np.full(returns.shape, 10),
        successes=np.zeros(returns.shape, bool) if successes is None else successes,
        seconds=1.0,
        batched=True,
    )


def test_report_writes_tables_summary_episodes_and_plots(tmp_path):
    pong = _result([[-20.7, 14.6], [-3.05, -3.05]])
    door = _result([[0, 0], [0, 0]], successes=np.array([[True, False], [True, True]]))
    dqn = {"DQN-normalized score": (pong.returns + 20.7) / 37.31}
    tasks = [
        TaskResult("atari:Pong", "human-normalized score", pong, (pong.returns + 20.7) / 35.3, dqn),
        TaskResult("metaworld:door-lock-v3", "success rate", door, door.successes.astype(float)),
    ]
    files = write_report(tasks, tmp_path / "out", repetitions=200)
    report = files["report"].read_text()
    assert "| atari:Pong | 4 | -3.05 | human-normalized score | 0.500 |" in report
    assert "| atari:Pong | 4 | -3.05 | DQN-normalized score | 0.473 |" in report  # 17.65/37.31
    assert "| metaworld:door-lock-v3 | 4 | 0.00 | success rate | 0.750 |" in report
    assert "| IQM | success rate | 1 |" in report
    summary = json.loads(files["summary"].read_text())
    assert summary["aggregates"]["human-normalized score"]["mean"]["point"] == pytest.approx(0.5)
    dqn_mean = summary["aggregates"]["DQN-normalized score"]["mean"]["point"]
    assert dqn_mean == pytest.approx(17.65 / 37.31)
    rows = files["episodes"].read_text().splitlines()
    assert rows[0] == "task,seed,episode,return,length,success,score,DQN-normalized score"
    assert len(rows) == 1 + 8
    assert rows[2].split(",")[-2:] == ["1.0", str(35.3 / 37.31)]  # Pong, seed 0, episode 1
    assert rows[-1].endswith(",1.0,")  # door-lock has no DQN score
    for key in ("plot:human-normalized score", "plot:DQN-normalized score", "plot:success rate"):
        assert png_size(files[key])[0] > 0


def test_training_logs_go_to_csv_and_tensorboard_with_evaluation_per_epoch(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    d3rlpy.seed(0)
    dataset, _ = collect_cartpole(episodes=3)
    algo = preset_config("tiny", pixel=False).create()
    calls = []

    def evaluation(trained):
        result = evaluate(trained, cartpole, episodes=2, target_return=100.0, show_progress=False)
        calls.append(trained.grad_step)
        return {"eval_return": result.mean_return}

    logger = EvaluationAdapterFactory(training_logger(tmp_path / "logs"), evaluation)
    algo.fit(
        dataset,
        n_steps=6,
        n_steps_per_epoch=3,
        experiment_name="run",
        with_timestamp=False,
        logger_adapter=logger,
        show_progress=False,
    )
    assert calls == [3, 6]  # once per epoch, after its updates
    run_dir = tmp_path / "logs" / "run"
    rows = np.loadtxt(run_dir / "eval_return.csv", delimiter=",")
    np.testing.assert_array_equal(rows[:, :2], [[1, 3], [2, 6]])
    assert (rows[:, 2] > 0).all()
    events = list((tmp_path / "logs" / "runs" / "run").glob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file"
    accumulator = EventAccumulator(str(events[0].parent)).Reload()
    tags = accumulator.Tags()["scalars"]
    assert {"metrics/loss", "metrics/eval_return"} <= set(tags)
    assert [e.step for e in accumulator.Scalars("metrics/eval_return")] == [1, 2]

    curves = plot_training_curves(run_dir, tmp_path / "curves.png")
    assert png_size(curves)[0] > 0
    with pytest.raises(ValueError, match="no metric CSV files"):
        plot_training_curves(tmp_path, tmp_path / "none.png")


def test_memory_activity_of_a_checkpoint(tmp_path):
    algo = train_cartpole_dtmem(steps=20)
    algo.save(str(tmp_path / "model.d3"))
    loaded = d3rlpy.load_learnable(str(tmp_path / "model.d3"))
    trajectory = record_trajectory(
        loaded,
        cartpole(),
        500.0,
        max_steps=30,
        action_sampler=GreedyTransformerActionSampler(),
        seed=0,
    )
    steps = len(trajectory)
    assert 8 < steps <= 30
    np.testing.assert_array_equal(trajectory.timesteps, np.arange(1, steps + 1))
    np.testing.assert_allclose(trajectory.returns_to_go[0], [500.0])
    activity = memory_activity(loaded, trajectory, batch_size=4)
    assert activity.shape == (steps, loaded.config.memory_slots)
    # w sums to 1 over the slots and beta is in (0, 1)
    assert (activity > 0).all() and (activity.sum(axis=1) < 1).all()
    np.testing.assert_allclose(
        memory_activity(loaded, trajectory, batch_size=64), activity, atol=1e-6
    )
    # causal: a step's write does not depend on later steps
    head = dataclasses.replace(
        trajectory,
        **{f.name: getattr(trajectory, f.name)[:5] for f in dataclasses.fields(trajectory)},
    )
    np.testing.assert_allclose(memory_activity(loaded, head), activity[:5], atol=1e-6)

    path = plot_memory_activity(activity, tmp_path / "memory.png")
    assert png_size(path)[0] > 0
    no_memory = train_cartpole_dtmem(steps=2, use_memory=False)
    with pytest.raises(ValueError, match="no working memory"):
        memory_activity(no_memory, trajectory)


def test_score_plots_keep_a_sane_axis_and_whole_titles(tmp_path):
    from d3rlpy_dtmem.evaluation.plots import _figure, _score_limits, _wrapped

    zeros = [Interval(0.0, 0.0, 0.0)] * 3
    assert _score_limits(zeros, "success rate") == (0.0, 1.05)
    low, high = _score_limits(zeros, "return")
    assert low == 0.0 and high > 0.5  # not matplotlib's +-0.05 around a flat zero
    low, high = _score_limits([Interval(-2.0, -3.0, -1.0), Interval(5.0, 4.0, 6.0)], "return")
    assert low < -3.0 and high > 6.0
    title = "memory activity, metaworld:door-unlock-v3, seed 0, episode 0, and more words"
    assert all(len(line) <= 44 for line in _wrapped(title, _figure(4.0, 3.5)).split("\n"))
    path = plot_task_scores(["a", "b", "c"], zeros, tmp_path / "zero.png", ylabel="success rate")
    assert png_size(path)[0] > 0


def test_reports_flag_weak_references_and_name_the_aggregated_games(tmp_path):
    from d3rlpy_dtmem.evaluation.envspec import parse_env_spec

    result = _result([[5000.0, 3568.0]])
    time_pilot = parse_env_spec("atari:TimePilot").task_result(result)
    assert len(time_pilot.notes) == 1  # the DQN reference is weak
    assert "only 86 points above random" in time_pilot.notes[0]
    np.testing.assert_allclose(time_pilot.other_scores["DQN-normalized score"][0, 0], 16.58, 1e-3)
    pong = parse_env_spec("atari:Pong").task_result(_result([[0.0, 10.0]]))
    assert pong.notes == ()
    # a game is scored by the references it has; one without random play by its return
    assert parse_env_spec("atari:Hero").score_names == (
        "human-normalized score",
        "DQN-normalized score",
    )
    assert parse_env_spec("atari:Carnival").score_names == ("return",)
    files = write_report([time_pilot, pong], tmp_path / "out", repetitions=100)
    report = files["report"].read_text()
    assert "Note: TimePilot: the DQN reference is only 86 points above random play" in report
    assert "Aggregated DQN-normalized score over: atari:TimePilot, atari:Pong." in report
    summary = json.loads(files["summary"].read_text())
    assert summary["aggregates"]["human-normalized score"]["task_names"] == [
        "atari:TimePilot",
        "atari:Pong",
    ]
