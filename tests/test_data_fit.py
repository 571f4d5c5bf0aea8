"""End to end: DTMem.fit on two small Minari datasets loaded with load_minari, unchanged."""

import d3rlpy
import numpy as np
from helpers import tiny_config
from test_data_helpers import write_frame_tasks, write_vector_tasks

from d3rlpy_dtmem.data import load_minari


def fit_and_check(algo, buffer, tmp_path):
    algo.fit(
        buffer,
        n_steps=4,
        n_steps_per_epoch=2,
        experiment_name="fit",
        with_timestamp=False,
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir=str(tmp_path / "logs")),
        show_progress=False,
    )
    assert algo.grad_step == 4
    losses = np.loadtxt(tmp_path / "logs/fit/loss.csv", delimiter=",", ndmin=2)
    assert len(losses) == 2 and np.isfinite(losses[:, 2]).all()  # one mean per epoch


def test_dtmem_fits_two_frame_stacked_atari_like_tasks(tmp_path):
    buffer = load_minari(write_frame_tasks([[12, 7], [9]]), prefetch=2)
    algo = tiny_config(pixel=True).create()
    fit_and_check(algo, buffer, tmp_path)
    buffer.close()
    # built from the stacked observation and the Minari action space (not the largest action)
    assert algo.impl.observation_shape == (4, 84, 84)
    assert algo.impl.action_size == 18 and algo.config.action_type == "discrete"
    # frames stay uint8 in batches by default (the pixel scaler makes them floats on the
    # device); uint8_batches=False gives d3rlpy's float32
    batch = buffer.sample_trajectory_batch(8, algo.config.context_size)
    assert batch.observations.dtype == np.uint8
    assert np.isfinite(algo.update(batch)["loss"])
    floats = load_minari(buffer.task_names, uint8_batches=False, seed=3)
    assert floats.sample_trajectory_batch(8, 5).observations.dtype == np.float32


def test_uint8_batches_without_an_observation_scaler_are_made_float(tmp_path):
    """A pixel model without scaler sees the float32 frames d3rlpy's batches would hold."""
    ids = write_frame_tasks([[12, 7]])
    frames = load_minari(ids, seed=0).sample_trajectory_batch(4, 5)
    floats = load_minari(ids, uint8_batches=False, seed=0).sample_trajectory_batch(4, 5)
    np.testing.assert_array_equal(frames.observations, floats.observations)
    losses = []
    for batch in (frames, floats):
        d3rlpy.seed(0)
        algo = tiny_config(pixel=True, observation_scaler=None).create()
        algo.build_with_dataset(load_minari(ids))
        losses.append(algo.update(batch)["loss"])
    assert losses[0] == losses[1]


def test_dtmem_fits_two_vector_tasks(tmp_path):
    buffer = load_minari(write_vector_tasks([[8, 6], [10]]), sampling="proportional")
    algo = tiny_config().create()
    fit_and_check(algo, buffer, tmp_path)
    assert algo.impl.observation_shape == (3,) and algo.impl.action_size == 64
