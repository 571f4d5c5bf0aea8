"""Bad input across the API: a clear one-line error (or documented clipping), never a silent
wrong result.

Covered elsewhere: unknown dataset id, empty dataset, NaN/inf observations and rewards
(test_data_loader), adapters from another base model (test_adapters), bad ``.d3`` files for
``load_checkpoint`` (test_checkpoint), bad DQN-Replay files (test_dqn_replay).
"""

import gymnasium as gym
import numpy as np
import pytest
import torch
from d3rlpy.algos import GreedyTransformerActionSampler, TransformerInput
from d3rlpy.constants import PositionEncodingType
from d3rlpy.logging import NoopAdapterFactory
from helpers import synthetic_dataset, tiny_config, window_input, write_policy_dataset
from minari.data_collector import EpisodeBuffer

from d3rlpy_dtmem.adapters import AdapterError
from d3rlpy_dtmem.app.jobs import JobError, load_dtmem
from d3rlpy_dtmem.convert import write_minari_dataset
from d3rlpy_dtmem.convert.minari_io import minari_root
from d3rlpy_dtmem.data import load_minari


def built(dataset=None, **overrides):
    algo = tiny_config(**overrides).create()
    algo.build_with_dataset(dataset or synthetic_dataset(discrete=True))
    return algo


def quiet_fit(algo, dataset, steps=2):
    algo.fit(
        dataset,
        n_steps=steps,
        n_steps_per_epoch=steps,
        logger_adapter=NoopAdapterFactory(),
        show_progress=False,
    )


# --- model files through jobs.load_dtmem -------------------------------------------------


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def corrupt(path):
    data = bytearray(path.read_bytes())
    data[: len(data) // 2] = bytes(len(data) // 2)
    path.write_bytes(bytes(data))


def foreign(path):
    import d3rlpy

    other = d3rlpy.algos.DiscreteBCConfig().create()
    other.build_with_dataset(synthetic_dataset(discrete=True))
    other.save(str(path))


@pytest.mark.parametrize(
    "damage, message",
    [
        (truncate, "not a readable d3rlpy model"),
        (corrupt, "not a readable d3rlpy model"),
        (foreign, "a DiscreteBC model, not DT-Mem"),
        (lambda p: p.unlink(), "no such model file"),
    ],
)
def test_load_dtmem_names_the_bad_file(tmp_path, damage, message):
    path = tmp_path / "model.d3"
    built().save(str(path))
    damage(path)
    with pytest.raises(JobError, match=message) as error:
        load_dtmem(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


# --- data that does not fit an already-built model ---------------------------------------


@pytest.mark.parametrize(
    "dataset, message",
    [
        (
            synthetic_dataset(discrete=True, action_size=4),
            r"the dataset has observations \(6,\) and 4 discrete actions, the model was built "
            r"for observations \(6,\) and 3 discrete actions",
        ),
        (
            synthetic_dataset(discrete=True, observation_size=8),
            r"the dataset has observations \(8,\) and 3 discrete actions, the model was built "
            r"for observations \(6,\) and 3",
        ),
        (
            synthetic_dataset(discrete=False),
            "the data has continuous actions but the model was built for discrete",
        ),
    ],
)
def test_fit_refuses_data_the_built_model_does_not_fit(dataset, message):
    algo = built()
    before = {k: v.clone() for k, v in algo.impl.model.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        quiet_fit(algo, dataset)
    assert algo.grad_step == 0
    assert all(torch.equal(v, before[k]) for k, v in algo.impl.model.state_dict().items())


def test_adapter_for_other_shapes_is_refused(tmp_path):
    small = built()
    small.enable_lora()
    small.save_adapter(tmp_path / "a.pt")
    large = built(synthetic_dataset(discrete=True, observation_size=8))
    with pytest.raises(AdapterError, match=r"adapter for observations \(6,\) and 3 actions, "):
        large.load_adapter(tmp_path / "a.pt")
    assert large.lora_adapters == []


# --- datasets ------------------------------------------------------------------------------


def test_non_finite_continuous_actions_are_refused():
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (5, 2))
    actions[3, 1] = np.nan
    episode = EpisodeBuffer(
        observations=rng.normal(size=(6, 4)),
        actions=actions,
        rewards=np.ones(5),
        terminations=np.r_[np.zeros(4, bool), True],
        truncations=np.zeros(5, bool),
        infos={},
    )
    write_minari_dataset(
        "test/nan-v0",
        [[episode]],
        observation_space=gym.spaces.Box(-10, 10, (4,), np.float64),
        action_space=gym.spaces.Box(-1, 1, (2,), np.float32),
    )
    with pytest.raises(ValueError, match=r"episode 0: actions contain NaN or inf \(first at step"):
        load_minari("test/nan-v0")


def test_episodes_without_steps_are_refused_and_nothing_is_written():
    episode = EpisodeBuffer(
        observations=np.zeros((1, 3), np.float32),
        actions=np.zeros(0, np.int64),
        rewards=np.zeros(0),
        terminations=np.zeros(0, bool),
        truncations=np.zeros(0, bool),
        infos={},
    )
    spaces = dict(
        observation_space=gym.spaces.Box(-1, 1, (3,), np.float32),
        action_space=gym.spaces.Discrete(2),
    )
    full = EpisodeBuffer(
        observations=np.zeros((3, 3), np.float32),
        actions=np.zeros(2, np.int64),
        rewards=np.zeros(2),
        terminations=np.array([False, True]),
        truncations=np.zeros(2, bool),
        infos={},
    )
    with pytest.raises(ValueError, match="dataset 'test/gap-v0': episode 2 has no steps"):
        write_minari_dataset("test/gap-v0", [[full], [full, episode]], **spaces)
    assert not (minari_root() / "test" / "gap-v0").exists()
    assert [p.name for p in minari_root().iterdir() if p.name.startswith(".")] == []


# --- windows longer than every episode: left padding, masked ---------------------------


def test_context_longer_than_every_episode_trains_and_padding_changes_nothing():
    ids = [write_policy_dataset(f"short/t{i}-v0", shift=i, length=3) for i in range(2)]
    buffer = load_minari(ids, seed=0)
    algo = tiny_config(context_size=8).create()
    quiet_fit(algo, buffer, steps=3)
    batch = buffer.sample_trajectory_batch(8, 8)
    assert (batch.masks.sum(axis=1) <= 3).all()  # at least 5 padded steps per window
    assert all(np.isfinite(value) for value in algo.update(batch).values())

    # the same weights with a window of exactly the episode's 3 steps: no padding at all
    exact = tiny_config(context_size=3).create()
    exact.build_with_dataset(buffer)
    exact.impl.model.load_state_dict(algo.impl.model.state_dict())
    episode = buffer.episodes[0]
    inpt = TransformerInput(
        observations=episode.observations,
        actions=episode.actions,
        rewards=episode.rewards,
        returns_to_go=np.cumsum(episode.rewards[::-1])[::-1].reshape(-1, 1),
        timesteps=np.arange(1, 4),
    )
    padded = algo.predict(inpt)
    assert np.isfinite(padded).all()
    np.testing.assert_allclose(padded, exact.predict(inpt), atol=1e-5)


# --- timesteps past max_timestep: clipped ------------------------------------------------


@pytest.mark.parametrize("encoding", [PositionEncodingType.SIMPLE, PositionEncodingType.GLOBAL])
def test_timesteps_past_max_timestep_are_clipped(encoding):
    dataset = synthetic_dataset(discrete=True, length=12)
    algo = built(dataset, max_timestep=10, position_encoding_type=encoding)
    inpt = window_input(dataset, 5)
    far = TransformerInput(**{**vars(inpt), "timesteps": np.arange(10_000, 10_005)})
    at_max = TransformerInput(**{**vars(inpt), "timesteps": np.full(5, 10)})
    np.testing.assert_array_equal(algo.predict(far), algo.predict(at_max))

    wrapper = algo.as_stateful_wrapper(0.0, GreedyTransformerActionSampler())
    observations = np.random.default_rng(0).normal(size=(35, 6)).astype(np.float32)
    actions = [wrapper.predict(observation, 0.0) for observation in observations]
    assert all(0 <= int(action) < 3 for action in actions)  # 35 steps, max_timestep 10
