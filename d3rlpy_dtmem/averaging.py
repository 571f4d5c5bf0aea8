"""The uniform average of a run's last checkpoints: where training stops matters less.

At small scale a policy's success moves a lot between checkpoints a few hundred updates
apart (docs/results.md, "Where a run stops"). :class:`LastCheckpointsAverage` is a
``fit(callback=...)`` that keeps the network's weights at the end of each of the run's last
``count`` epochs and, with :meth:`~LastCheckpointsAverage.apply`, replaces the weights by
their uniform mean. Nothing is trained; the optimizer's state stays that of the last update.

    averager = LastCheckpointsAverage(n_steps=3000, n_steps_per_epoch=300, count=3)
    algo.fit(buffer, n_steps=3000, n_steps_per_epoch=300, callback=averager)
    averager.apply(algo)  # the mean of the weights after updates 2400, 2700 and 3000
"""

from collections.abc import Mapping, Sequence
from typing import Any

import torch

__all__ = ["LastCheckpointsAverage", "mean_state"]


def mean_state(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform mean of ``states`` (state dicts of one network); entries that are not
    floating point (counters, masks) are taken from the last."""
    if not states:
        raise ValueError("no weights to average")
    return {
        name: torch.stack([state[name] for state in states]).mean(dim=0)
        if value.is_floating_point()
        else value
        for name, value in states[-1].items()
    }


def _network(algo: Any) -> torch.nn.Module:
    if algo.impl is None:
        raise RuntimeError("the algorithm has no network yet: fit it before averaging")
    return algo.impl.modules.model


class LastCheckpointsAverage:
    """Keeps the weights after the last ``count`` epochs of a run; :meth:`apply` averages.

    Args:
        n_steps: updates the run makes, over all the ``fit`` calls it is passed to.
        n_steps_per_epoch: updates per epoch; the weights are kept after updates
            ``n_steps``, ``n_steps - n_steps_per_epoch``, ... (those above 0).
        count: how many epoch ends to average; 1 keeps the last weights only.
    """

    def __init__(self, n_steps: int, n_steps_per_epoch: int, count: int) -> None:
        for name, value in (("n_steps", n_steps), ("n_steps_per_epoch", n_steps_per_epoch)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.kept_steps = sorted(
            step for step in (n_steps - i * n_steps_per_epoch for i in range(count)) if step > 0
        )
        self._updates = 0
        self._snapshots: list[dict[str, torch.Tensor]] = []

    def __call__(self, algo: Any, epoch: int, total_step: int) -> None:
        """d3rlpy calls this after every update (``fit(callback=...)``)."""
        self._updates += 1
        if self._updates in self.kept_steps:
            state = _network(algo).state_dict()
            self._snapshots.append({name: value.detach().clone() for name, value in state.items()})

    def apply(self, algo: Any) -> int:
        """Loads the uniform mean of the kept weights into ``algo``'s network; returns how
        many were averaged."""
        if len(self._snapshots) != len(self.kept_steps):
            raise RuntimeError(
                f"kept {len(self._snapshots)} of the weights after updates {self.kept_steps}: "
                f"the run made {self._updates} updates"
            )
        _network(algo).load_state_dict(mean_state(self._snapshots))
        return len(self._snapshots)
