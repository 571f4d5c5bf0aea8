"""Context windows: the one rule by which training, inference and the memory-activity plot
cut an episode into windows of K steps.

The window that ends at step ``t`` of an episode that starts at step ``s`` holds steps
``t - K + 1 .. t``; positions before ``s`` are padding: zero, and masked out. This is
d3rlpy's trajectory slicer, vectorised: :func:`window_steps` gives the step indices and the
mask of many windows at once, :func:`gather` reads an array at them.

Shape legend: B windows, K steps per window.
"""

import numpy as np
from d3rlpy.types import NDArray

__all__ = ["gather", "window_steps"]


def window_steps(end: NDArray, start: NDArray, length: int) -> tuple[NDArray, NDArray]:
    """Step indices and validity of the windows of ``length`` steps that end at ``end``.

    Args:
        end: (B,) the last step of each window.
        start: (B,) the first step of each window's episode (``end >= start``).
        length: K.

    Returns:
        ``(steps, valid)``, both (B, K): the steps, oldest first, where padding positions
        read the episode's first step (so that any index is in range), and True for real
        steps.
    """
    end = np.asarray(end, dtype=np.int64)
    start = np.asarray(start, dtype=np.int64)
    steps = end[:, None] - (length - 1) + np.arange(length)  # (B, K)
    valid = steps >= start[:, None]
    return np.maximum(steps, start[:, None]), valid


def gather(array: NDArray, index: NDArray, valid: NDArray) -> NDArray:
    """``array[index]`` for an index array of any shape, zero where ``valid`` is False.

    Args:
        array: (N, *item), indexed on its first axis (an ``ndarray`` or an ``np.memmap``).
        index: (*shape) indices into ``array``.
        valid: (*shape) booleans.

    Returns:
        (*shape, *item), a new array.
    """
    out = array[index.reshape(-1)]
    # (M, *item) -> (*index.shape, *item)
    out = out.reshape(*index.shape, *out.shape[1:])
    out[~valid] = 0
    return out
