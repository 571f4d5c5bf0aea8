"""Gymnasium ids of the project's environments, and the env specs its datasets record.

``gymnasium.make`` (and so Minari's ``recover_environment`` and d3rlpy's ``get_minari``)
rebuilds any of them from an id or a recorded spec, given the string entry point, without
importing this package first:

* ``d3rlpy_dtmem/AtariDQN-v0`` (``game=...``): an Atari game under the DQN protocol
  (:func:`~d3rlpy_dtmem.envs.make_atari`: 4 stacked 84x84 frames, sticky actions, full
  action set, 27,000-step cap), the environment DQN-Replay was recorded in;
* ``d3rlpy_dtmem/MetaWorld-v0`` (``task=..., hide_goal=..., max_episode_steps=...``): a
  Meta-World task (:func:`~d3rlpy_dtmem.envs.make_metaworld`);
* ``d3rlpy_dtmem/TMaze-v0`` (``corridor_length=...``): the T-maze memory task.

Importing :mod:`d3rlpy_dtmem.envs` registers them.
"""

import dataclasses
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

__all__ = [
    "ATARI_DQN_ENV_ID",
    "METAWORLD_ENV_ID",
    "TMAZE_ENV_ID",
    "env_spec",
    "register_envs",
]

ATARI_DQN_ENV_ID = "d3rlpy_dtmem/AtariDQN-v0"
METAWORLD_ENV_ID = "d3rlpy_dtmem/MetaWorld-v0"
TMAZE_ENV_ID = "d3rlpy_dtmem/TMaze-v0"

_ENTRY_POINTS = {
    ATARI_DQN_ENV_ID: "d3rlpy_dtmem.envs.atari:make_atari",
    METAWORLD_ENV_ID: "d3rlpy_dtmem.envs.metaworld:make_metaworld",
    TMAZE_ENV_ID: "d3rlpy_dtmem.envs.tmaze:TMazeEnv",
}


def register_envs() -> None:
    """Registers the ids above with gymnasium (once; the factories cap episodes themselves)."""
    for env_id, entry_point in _ENTRY_POINTS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point, disable_env_checker=True)


def env_spec(env_id: str, **kwargs: Any) -> EnvSpec:
    """The spec of a registered id with its keyword arguments, e.g.
    ``env_spec(ATARI_DQN_ENV_ID, game="Pong")``: what a dataset records as ``env_spec``."""
    register_envs()
    return dataclasses.replace(gym.spec(env_id), kwargs=dict(kwargs))


register_envs()
