"""Resuming ``dtmem train``: same step count and LR schedule as an uninterrupted run."""

import numpy as np
import pytest
from click.testing import CliRunner
from evaluation_helpers import write_cartpole_dataset
from helpers import synthetic_dataset, tiny_config

from d3rlpy_dtmem.app.cli import dtmem
from d3rlpy_dtmem.app.jobs import JobError, train
from d3rlpy_dtmem.app.resume import latest_checkpoint, trim_metrics
from d3rlpy_dtmem.checkpoint import load_checkpoint

DATASET = "test/cartpole-v0"
EPOCH = 10  # steps per epoch; the tiny preset warms up for 50 steps, so the LR still rises


@pytest.fixture
def minari(minari_path):
    write_cartpole_dataset(DATASET, episodes=3)


def run_train(out, steps, **options):
    return train(
        [DATASET],
        out,
        steps=steps,
        steps_per_epoch=EPOCH,
        tensorboard=False,
        show_progress=False,
        **options,
    )


def rows(path):
    return np.loadtxt(path, delimiter=",", ndmin=2)


def test_an_interrupted_run_resumes_to_the_same_steps_and_learning_rates(minari, tmp_path):
    straight = tmp_path / "straight"
    run_train(straight, 3 * EPOCH)

    resumed = tmp_path / "resumed"
    run_train(resumed, EPOCH)  # the run "stopped" after its first epoch
    (resumed / "model.d3").unlink()  # as if killed before the final save
    result = run_train(resumed, 3 * EPOCH, resume=True)

    assert (
        load_checkpoint(result.model).grad_step == load_checkpoint(straight / "model.d3").grad_step
    )
    assert load_checkpoint(result.model).grad_step == 3 * EPOCH
    want, got = (
        rows(straight / "logs/train/learning_rate.csv"),
        rows(result.run_dir / "learning_rate.csv"),
    )
    np.testing.assert_array_equal(got[:, :2], [[1, 10], [2, 20], [3, 30]])
    np.testing.assert_array_equal(got[:, :2], want[:, :2])
    np.testing.assert_allclose(got[:, 2], want[:, 2], rtol=1e-6)
    assert got[2, 2] > got[0, 2]  # the schedule went on warming up, it did not restart
    names = sorted(path.name for path in result.run_dir.glob("model_*.d3"))
    assert names == ["model_10.d3", "model_20.d3", "model_30.d3"]
    assert load_checkpoint(result.run_dir / "model_20.d3").grad_step == 20
    assert len(rows(result.run_dir / "loss.csv")) == 3


def test_resume_picks_the_newest_epoch_checkpoint(tmp_path):
    run_dir = tmp_path / "logs/train"
    assert latest_checkpoint(tmp_path, run_dir) is None
    run_dir.mkdir(parents=True)
    (tmp_path / "model.d3").write_bytes(b"")
    assert latest_checkpoint(tmp_path, run_dir) == tmp_path / "model.d3"
    for name in ("model_20.d3", "model_100.d3", "model_30.d3", ".model_200.d3.1.ab.tmp"):
        (run_dir / name).write_bytes(b"")
    assert latest_checkpoint(tmp_path, run_dir) == run_dir / "model_100.d3"


def test_metrics_logged_after_the_checkpoint_are_dropped(tmp_path):
    (tmp_path / "loss.csv").write_text("epoch,step,value\n1,10,0.5\n2,20,0.4\n3,30,0.3\n")
    trim_metrics(tmp_path, 20)
    assert (tmp_path / "loss.csv").read_text() == "epoch,step,value\n1,10,0.5\n2,20,0.4\n"


def test_resume_errors_are_one_line(minari, tmp_path):
    with pytest.raises(JobError, match="no such run folder to resume"):
        run_train(tmp_path / "missing", 20, resume=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(JobError, match="no checkpoint to resume"):
        run_train(tmp_path / "empty", 20, resume=True)

    done = tmp_path / "done"
    run_train(done, EPOCH)
    with pytest.raises(JobError, match="already trained 10 steps; --steps 10 leaves none"):
        run_train(done, EPOCH, resume=True)

    other = tmp_path / "other"
    other.mkdir()
    algo = tiny_config().create()
    dataset = synthetic_dataset(discrete=True, observation_size=6, action_size=2)
    algo.build_with_dataset(dataset)
    algo.set_grad_step(EPOCH)
    algo.save(str(other / "model.d3"))
    with pytest.raises(JobError, match=r"cannot resume .*other: .*observations \(4,\) do not"):
        run_train(other, 20, resume=True)


def test_cli_resume_continues_the_run(minari, tmp_path):
    out = tmp_path / "run"
    common = ("--datasets", DATASET, "--steps-per-epoch", EPOCH, "--no-tensorboard")
    invoke = lambda *args: CliRunner().invoke(dtmem, ["train", *map(str, (*common, *args))])  # noqa: E731
    assert invoke("--steps", EPOCH, "--out", out).exit_code == 0
    result = invoke("--steps", 2 * EPOCH, "--resume", out)
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out / "model.d3").grad_step == 2 * EPOCH
    np.testing.assert_array_equal(rows(out / "logs/train/loss.csv")[:, :2], [[1, 10], [2, 20]])

    result = invoke("--steps", 2 * EPOCH)
    assert result.exit_code != 0 and "Missing option '--out'" in result.output
    result = invoke("--steps", 3 * EPOCH, "--resume", out, "--out", tmp_path / "elsewhere")
    assert result.exit_code != 0 and "leave out --out" in result.output
    result = invoke("--steps", 2 * EPOCH, "--resume", tmp_path / "nowhere")
    assert result.exit_code != 0 and "no such run folder to resume" in result.output
    assert "Traceback" not in result.output


def test_cosine_training_decays_to_zero_resumes_on_it_and_refuses_to_pass_its_end(minari, tmp_path):
    out = tmp_path / "run"
    invoke = lambda *args: CliRunner().invoke(dtmem, ["train", *map(str, args)])  # noqa: E731
    common = ("--datasets", DATASET, "--steps-per-epoch", EPOCH, "--no-tensorboard", "--schedule")
    result = invoke(*common, "cosine", "--steps", 3 * EPOCH, "--out", out)
    assert result.exit_code == 0, result.output
    schedule = load_checkpoint(out / "model.d3").config.optim_factory.lr_scheduler_factory
    assert (schedule.get_type(), schedule.warmup_steps, schedule.decay_steps) == (
        "warmup_cosine",
        50,
        3 * EPOCH,
    )
    rates = rows(out / "logs/train/learning_rate.csv")[:, 2]
    assert rates[2] < rates[1]  # each epoch's mean rate: the warmup alone would still rise

    (out / "model.d3").unlink()
    (out / "logs/train/model_30.d3").unlink()  # stopped after step 20 of 30
    result = invoke(*common, "constant", "--steps", 3 * EPOCH, "--resume", out)
    assert result.exit_code == 0, result.output  # the run's own schedule, not --schedule's
    np.testing.assert_allclose(rows(out / "logs/train/learning_rate.csv")[:, 2], rates, rtol=1e-6)
    result = invoke(*common, "cosine", "--steps", 4 * EPOCH, "--resume", out)
    assert result.exit_code != 0 and "decays to 0 at step 30" in result.output
    assert "--steps 40" in result.output and "Traceback" not in result.output


def test_an_unknown_training_schedule_is_refused_before_writing(minari, tmp_path):
    with pytest.raises(JobError, match="unknown schedule 'linear'"):
        run_train(tmp_path / "run", EPOCH, schedule="linear")
    assert not (tmp_path / "run").exists()
