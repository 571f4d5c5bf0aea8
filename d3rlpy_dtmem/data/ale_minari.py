"""Minari's own Atari datasets (``atari/<game>/expert-v0``) seen as DQN-protocol data.

Minari's hub publishes Atari datasets recorded in ``ALE/<Game>-v5``: raw ``(210, 160, 3)``
RGB frames at every agent step, actions in the game's minimal action set, raw game rewards.
DT-Mem's Atari data (DQN-Replay) is 84x84 grayscale frames stacked 4 at sampling, actions in
the full 18-action set and rewards clipped to [-1, 1]. :func:`as_dqn_protocol` wraps such a
dataset so that ``load_minari`` reads it in the latter form:

* frames: grayscale (``cv2.COLOR_RGB2GRAY``, which equals ALE's own grayscale screen) and
  resized to 84x84 with ``INTER_AREA``, as gymnasium's ``AtariPreprocessing`` does (which
  also max-pools the last two emulator frames; a dataset holds only the last one);
* actions: the minimal-set index mapped to the full-set id (``minimal_action_set``);
* rewards: clipped to [-1, 1] (``reward_transform = "clip"``), ``frame_stack = 4``.

So a DT-Mem pre-trained on DQN-Replay fine-tunes and evaluates on them unchanged. The
conversion reads every frame once; ``load_minari`` keeps the result in an on-disk store (its
``mmap_dir``, by default a cache folder in the Minari root) and maps it on later loads.
"""

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

__all__ = ["ALE_FRAME_SHAPE", "DQNProtocolDataset", "ale_game", "as_dqn_protocol", "dqn_frames"]

ALE_FRAME_SHAPE = (210, 160, 3)
_ALE_ID = re.compile(r"^ALE/(?P<game>[A-Za-z]+)-v\d+$")
_SCREEN = 84
_FULL_ACTIONS = 18


def ale_game(dataset: Any) -> str | None:
    """The game of a Minari dataset recorded in ``ALE/<Game>-vN`` with raw RGB frames, or
    ``None`` for any other dataset."""
    space = dataset.observation_space
    if not (isinstance(space, spaces.Box) and space.shape == ALE_FRAME_SHAPE):
        return None
    spec = getattr(dataset, "env_spec", None)
    match = _ALE_ID.match(getattr(spec, "id", "") or "")
    return match["game"] if match else None


def dqn_frames(rgb: NDArray) -> NDArray:
    """(T, 210, 160, 3) uint8 RGB frames -> (T, 84, 84) uint8, as ``AtariPreprocessing``."""
    import cv2

    out = np.empty((len(rgb), _SCREEN, _SCREEN), dtype=np.uint8)
    for index, frame in enumerate(rgb):
        gray = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        out[index] = cv2.resize(gray, (_SCREEN, _SCREEN), interpolation=cv2.INTER_AREA)
    return out


@dataclasses.dataclass(frozen=True)
class _Episode:
    """One episode in the DQN protocol (the fields ``load_minari`` reads)."""

    id: int
    observations: NDArray  # (T + 1, 84, 84) uint8
    actions: NDArray  # (T,) full-set ids
    rewards: NDArray  # (T,) clipped
    terminations: NDArray
    truncations: NDArray


@dataclasses.dataclass(frozen=True)
class _Storage:
    """The wrapped dataset's storage, with the protocol's metadata on top of its own."""

    data_path: Any
    metadata: dict[str, Any]


class DQNProtocolDataset:
    """A Minari ALE dataset seen in the DQN protocol (see the module docstring)."""

    def __init__(self, dataset: Any, game: str):
        from ..envs.atari import FRAME_STACK, minimal_action_set
        from ..rewards import REWARD_TRANSFORM_KEY

        self._dataset = dataset
        self.game = game
        self._action_set = np.asarray(minimal_action_set(game), dtype=np.int64)
        if dataset.action_space.n != len(self._action_set):
            raise ValueError(
                f"Minari dataset of {game}: {dataset.action_space.n} actions, but the game's "
                f"minimal action set has {len(self._action_set)}"
            )
        metadata = {**dataset.storage.metadata, "frame_stack": FRAME_STACK}
        metadata[REWARD_TRANSFORM_KEY] = "clip"
        self.storage = _Storage(dataset.storage.data_path, metadata)
        self.observation_space = spaces.Box(0, 255, (_SCREEN, _SCREEN), np.uint8)
        self.action_space = spaces.Discrete(_FULL_ACTIONS)

    @property
    def total_steps(self) -> int:
        return int(self._dataset.total_steps)

    @property
    def total_episodes(self) -> int:
        return int(self._dataset.total_episodes)

    def iterate_episodes(self) -> Iterator[_Episode]:
        """The episodes converted, one at a time, behind a progress bar over frames."""
        from tqdm.auto import tqdm

        name = f"{self.game}: frames to 84x84 grayscale (once)"
        with tqdm(total=self.total_steps, desc=name, unit="frame", unit_scale=True) as bar:
            for episode in self._dataset.iterate_episodes():
                actions = np.asarray(episode.actions, dtype=np.int64)
                if actions.size and not 0 <= actions.min() <= actions.max() < len(self._action_set):
                    raise ValueError(
                        f"Minari dataset of {self.game}, episode {episode.id}: actions "
                        f"{actions.min()}..{actions.max()} outside the minimal action set "
                        f"(0..{len(self._action_set) - 1})"
                    )
                yield _Episode(
                    id=episode.id,
                    observations=dqn_frames(episode.observations),
                    actions=self._action_set[actions],
                    rewards=np.clip(np.asarray(episode.rewards, dtype=np.float64), -1.0, 1.0),
                    terminations=episode.terminations,
                    truncations=episode.truncations,
                )
                bar.update(len(episode.rewards))


def as_dqn_protocol(dataset: Any) -> Any:
    """``dataset`` seen in the DQN protocol if it is a Minari ALE dataset, else itself."""
    game = ale_game(dataset)
    return dataset if game is None else DQNProtocolDataset(dataset, game)
