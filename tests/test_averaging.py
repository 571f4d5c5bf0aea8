"""The mean of a run's last checkpoints (``LastCheckpointsAverage``) and ``mean_state``."""

import d3rlpy
import numpy as np
import pytest
import torch
from helpers import synthetic_dataset, tiny_config, window_input

from d3rlpy_dtmem.app.jobs import fit_steps
from d3rlpy_dtmem.averaging import LastCheckpointsAverage, mean_state


def weights(algo):
    return {k: v.clone() for k, v in algo.impl.modules.model.state_dict().items()}


def fit_with(averager, tmp_path, steps=12, per_epoch=4):
    """A tiny DT-Mem fitted for ``steps`` updates, saving a checkpoint after every epoch."""
    d3rlpy.seed(0)
    algo = tiny_config().create()
    fit_steps(
        algo,
        synthetic_dataset(discrete=True),
        steps,
        per_epoch,
        "run",
        d3rlpy.logging.FileAdapterFactory(root_dir=str(tmp_path)),
        False,
        callback=averager,
    )
    return algo


def saved(tmp_path, step):
    return weights(d3rlpy.load_learnable(str(tmp_path / "run" / f"model_{step}.d3")))


def test_apply_loads_the_mean_of_the_last_epochs_weights(tmp_path):
    averager = LastCheckpointsAverage(n_steps=12, n_steps_per_epoch=4, count=2)
    assert averager.kept_steps == [8, 12]
    algo = fit_with(averager, tmp_path)
    last = weights(algo)
    assert averager.apply(algo) == 2
    averaged = weights(algo)
    expected = {k: (saved(tmp_path, 8)[k] + saved(tmp_path, 12)[k]) / 2 for k in last}
    changed = 0
    for name, value in averaged.items():
        torch.testing.assert_close(value, expected[name])
        changed += not torch.equal(value, last[name])
    assert changed > 0, "the average differs from the last weights"
    window = window_input(synthetic_dataset(discrete=True), algo.config.context_size)
    assert np.isfinite(algo.predict(window)).all()  # still a working policy


def test_one_checkpoint_is_the_last_weights_and_too_few_updates_are_refused(tmp_path):
    averager = LastCheckpointsAverage(n_steps=8, n_steps_per_epoch=4, count=1)
    algo = fit_with(averager, tmp_path, steps=8)
    last = weights(algo)
    averager.apply(algo)
    for name, value in weights(algo).items():
        assert torch.equal(value, last[name])
    # counted over the whole run: a run shorter than announced has not reached its last epochs
    short = LastCheckpointsAverage(n_steps=16, n_steps_per_epoch=4, count=3)
    algo = fit_with(short, tmp_path / "short", steps=8)
    with pytest.raises(RuntimeError, match=r"kept 1 of the weights after updates \[8, 12, 16\]"):
        short.apply(algo)
    # more epochs asked for than the run has: all of them
    assert LastCheckpointsAverage(8, 4, count=5).kept_steps == [4, 8]


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 4, 2), "n_steps must be at least 1, got 0"),
        ((8, 0, 2), "n_steps_per_epoch must be at least 1, got 0"),
        ((8, 4, 0), "count must be at least 1, got 0"),
    ],
)
def test_bad_arguments_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        LastCheckpointsAverage(*args)


def test_mean_state_averages_floats_and_keeps_the_rest():
    states = [
        {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)},
        {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(5)},
    ]
    mean = mean_state(states)
    torch.testing.assert_close(mean["w"], torch.tensor([2.0, 4.0]))
    assert mean["n"].item() == 5
    with pytest.raises(ValueError, match="no weights to average"):
        mean_state([])
