"""Reward transforms: how a dataset's rewards were made from the environment's.

``"none"``: as the environment returns them. ``"clip"``: clipped to [-1, 1], as DQN and its
replay data (DQN-Replay) store them. Returns-to-go of training are sums of the dataset's
rewards, so an evaluation with a fixed target return must spend it in the same units: the
rewards an environment returns are transformed before they are subtracted. A dataset records
its transform in its Minari metadata under :data:`REWARD_TRANSFORM_KEY`.
"""

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "REWARD_TRANSFORMS",
    "REWARD_TRANSFORM_KEY",
    "check_reward_transform",
    "transform_rewards",
]

REWARD_TRANSFORMS = ("none", "clip")
REWARD_TRANSFORM_KEY = "reward_transform"


def check_reward_transform(transform: str) -> str:
    """``transform`` if it is known, else ``ValueError`` naming the known ones."""
    if transform not in REWARD_TRANSFORMS:
        raise ValueError(
            f"unknown reward transform {transform!r}; choose from {', '.join(REWARD_TRANSFORMS)}"
        )
    return transform


def transform_rewards(rewards: ArrayLike, transform: str) -> NDArray:
    """The environment's ``rewards`` (float64) in the units of the dataset's rewards."""
    rewards = np.asarray(rewards, dtype=np.float64)
    return np.clip(rewards, -1.0, 1.0) if check_reward_transform(transform) == "clip" else rewards
