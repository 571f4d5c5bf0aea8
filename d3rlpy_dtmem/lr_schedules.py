"""Learning-rate schedules of DT-Mem's optimizers, registered with d3rlpy.

d3rlpy's ``WarmupSchedulerFactory`` (the pre-training default) warms the rate up and then
holds it. Fine-tuning runs a known number of updates on little data; there a rate that
decays to zero by the last update gives steadier results (the fine-tuning sweep in
``docs/results.md``). Registered, so a config that holds the schedule saves and loads
like any d3rlpy config.
"""

import dataclasses
import math

from d3rlpy.optimizers.lr_schedulers import (
    LRSchedulerFactory,
    WarmupSchedulerFactory,
    register_lr_scheduler_factory,
)
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

__all__ = ["WarmupCosineSchedulerFactory", "warmup_steps_of", "with_cosine_decay"]


@dataclasses.dataclass()
class WarmupCosineSchedulerFactory(LRSchedulerFactory):
    r"""Linear warmup, then cosine decay to zero at ``decay_steps``.

    .. math::

        lr_t = lr \cdot \min\left(\frac{t + 1}{warmup\_steps}, 1\right)
        \cdot \frac{1 + \cos(\pi \min(t, decay\_steps) / decay\_steps)}{2}

    for update ``t = 0, 1, ...`` of the optimizer; the rate is 0 from ``decay_steps`` on.

    Args:
        warmup_steps: updates of linear warmup (0: none).
        decay_steps: updates until the rate reaches 0 (counted from the first update,
            warmup included).
    """

    warmup_steps: int
    decay_steps: int

    def __post_init__(self) -> None:
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps!r}")
        if self.decay_steps < 1:
            raise ValueError(f"decay_steps must be >= 1, got {self.decay_steps!r}")

    def factor(self, step: int) -> float:
        """The multiple of the peak rate at update ``step``."""
        warmup = min((step + 1) / self.warmup_steps, 1.0) if self.warmup_steps else 1.0
        progress = min(step, self.decay_steps) / self.decay_steps
        return warmup * 0.5 * (1.0 + math.cos(math.pi * progress))

    def create(self, optim: Optimizer) -> LRScheduler:
        # a lambda, not a bound method: LambdaLR saves no state for plain functions
        return LambdaLR(optim, lambda step: self.factor(step))

    @staticmethod
    def get_type() -> str:
        return "warmup_cosine"


register_lr_scheduler_factory(WarmupCosineSchedulerFactory)


def warmup_steps_of(scheduler: LRSchedulerFactory | None) -> int:
    """The warmup of a schedule (0 for one without warmup)."""
    if isinstance(scheduler, (WarmupSchedulerFactory, WarmupCosineSchedulerFactory)):
        return int(scheduler.warmup_steps)
    return 0


def with_cosine_decay(
    scheduler: LRSchedulerFactory | None, decay_steps: int | None
) -> LRSchedulerFactory | None:
    """``scheduler``'s warmup followed by a cosine decay to zero at ``decay_steps``; with
    ``decay_steps=None``, the warmup alone (a constant rate after it)."""
    warmup_steps = warmup_steps_of(scheduler)
    if decay_steps is not None:
        return WarmupCosineSchedulerFactory(warmup_steps, int(decay_steps))
    if isinstance(scheduler, WarmupCosineSchedulerFactory):
        return WarmupSchedulerFactory(warmup_steps) if warmup_steps else None
    return scheduler
