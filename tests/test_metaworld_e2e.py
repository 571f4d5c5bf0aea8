"""Continuous path end to end: scripted Meta-World data -> Minari -> DT-Mem -> success rate."""

import d3rlpy
import numpy as np
from helpers import tiny_config

from d3rlpy_dtmem.convert.metaworld_datasets import convert_metaworld
from d3rlpy_dtmem.data import load_minari
from d3rlpy_dtmem.envs import metaworld_success_rate


def test_dtmem_trains_on_two_converted_tasks_and_is_evaluated(minari_path, tmp_path):
    results = convert_metaworld(
        ["reach-v3", "door-unlock-v3"], episodes=2, max_episode_steps=60, show_progress=False
    )
    buffer = load_minari([result.dataset_id for result in results])
    assert buffer.dataset_info.action_space == d3rlpy.ActionSpace.CONTINUOUS
    assert buffer.dataset_info.action_size == 4
    batch = buffer.sample_trajectory_batch(8, 5)
    assert batch.observations.shape == (8, 5, 39)

    algo = tiny_config(batch_size=8).create()
    algo.fit(
        buffer,
        n_steps=10,
        n_steps_per_epoch=10,
        show_progress=False,
        logger_adapter=d3rlpy.logging.FileAdapterFactory(root_dir=str(tmp_path / "logs")),
    )
    assert algo.config.action_type == "continuous"
    losses = np.loadtxt(next((tmp_path / "logs").glob("*/loss.csv")), delimiter=",")
    assert np.isfinite(losses).all()

    rate = metaworld_success_rate(
        algo.as_stateful_wrapper(target_return=500.0),
        "reach-v3",
        episodes=2,
        seed=100,
        max_episode_steps=20,
    )
    assert rate in (0.0, 0.5, 1.0)
