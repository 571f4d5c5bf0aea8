"""Minari datasets -> d3rlpy replay buffers: multi-task batches, fast frame stacking.

``load_minari(["atari/pong-v0", "atari/breakout-v0"])`` gives a replay buffer that
``DTMem.fit`` trains on; every mini-batch holds windows of every task. Importing this
package imports none of its modules (nor Minari): each name loads its module when first used,
so the algorithm can use :mod:`.pinned` without loading the dataset machinery.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .buffer import MultiTaskReplayBuffer
    from .episode_runs import EpisodeRuns
    from .minari_loader import DatasetNotFoundError, load_minari
    from .multitask import SAMPLING_MODES, allocate_batch
    from .pinned import batch_to_device, pin_batch
    from .prefetch import Prefetcher
    from .sampler import (
        TrajectorySampler,
        UInt8TrajectoryMiniBatch,
        Windows,
        run_starts,
        slice_runs,
        slice_windows,
        windows_to_batch,
    )
    from .task import TaskArrays, returns_to_go

_HOMES = {  # public name -> the module (of this package) that defines it
    "DatasetNotFoundError": "minari_loader",
    "EpisodeRuns": "episode_runs",
    "MultiTaskReplayBuffer": "buffer",
    "Prefetcher": "prefetch",
    "SAMPLING_MODES": "multitask",
    "TaskArrays": "task",
    "TrajectorySampler": "sampler",
    "UInt8TrajectoryMiniBatch": "sampler",
    "Windows": "sampler",
    "allocate_batch": "multitask",
    "batch_to_device": "pinned",
    "load_minari": "minari_loader",
    "pin_batch": "pinned",
    "returns_to_go": "task",
    "run_starts": "sampler",
    "slice_runs": "sampler",
    "slice_windows": "sampler",
    "windows_to_batch": "sampler",
}

__all__ = [  # each loads its module on first use (see __getattr__)
    "DatasetNotFoundError",
    "EpisodeRuns",
    "MultiTaskReplayBuffer",
    "Prefetcher",
    "SAMPLING_MODES",
    "TaskArrays",
    "TrajectorySampler",
    "UInt8TrajectoryMiniBatch",
    "Windows",
    "allocate_batch",
    "batch_to_device",
    "load_minari",
    "pin_batch",
    "returns_to_go",
    "run_starts",
    "slice_runs",
    "slice_windows",
    "windows_to_batch",
]


def __getattr__(name: str) -> Any:  # PEP 562
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
