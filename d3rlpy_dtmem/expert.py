"""Expert-return inference (Multi-Game DT): condition on a return sampled toward high returns.

A discrete DT-Mem predicts, at each step's state token, a distribution over integer return
classes (``return_range``, class i = return ``low + i`` in the units the model was trained
on, i.e. after ``reward_scaler``); the prediction of R̂_t does not depend on R̂_t. At each
step the distribution is tilted toward high returns and a return is sampled from it::

    logits' = (logits + kappa * linspace(0, 1, classes)) / temperature
    R̂_t ~ softmax(logits')

i.e. ``P(R̂) ∝ P(R̂ | s, ...) * exp(kappa * (R̂ - low) / (high - low))`` at temperature 1,
the "optimality prior" of Multi-Game DT (kappa = 10 in that paper). The action is then
predicted conditioned on the sampled R̂_t, so no per-game target return is needed.
"""

import dataclasses

import numpy as np
from d3rlpy.types import NDArray

__all__ = ["DEFAULT_KAPPA", "ReturnSampler", "is_expert_target", "tilt_return_logits"]

DEFAULT_KAPPA = 10.0
EXPERT = "expert"


def is_expert_target(target_return: float | str | None) -> bool:
    """True for ``None`` and ``"expert"`` (expert-return inference), False for a number.

    Raises:
        ValueError: any other string.
    """
    if target_return is None:
        return True
    if isinstance(target_return, str):
        if target_return != EXPERT:
            raise ValueError(
                f"target_return must be a number, None or 'expert', got {target_return!r}"
            )
        return True
    return False


def tilt_return_logits(logits: NDArray, kappa: float, temperature: float) -> NDArray:
    """``(logits + kappa * linspace(0, 1, C)) / temperature`` over the last axis (C classes).

    Args:
        logits: (..., C) return-class logits.
        kappa: weight of the optimality prior (0: the model's own distribution).
        temperature: softmax temperature (> 0); small values approach the argmax.

    Returns:
        float64 array of the same shape.
    """
    classes = logits.shape[-1]
    prior = np.linspace(0.0, 1.0, classes) if classes > 1 else np.zeros(1)
    return (np.asarray(logits, dtype=np.float64) + kappa * prior) / temperature


@dataclasses.dataclass
class ReturnSampler:
    """Samples return classes from tilted return logits.

    Args:
        kappa: weight of the optimality prior.
        temperature: softmax temperature (> 0).
        rng: numpy generator (seed it for reproducible rollouts).
    """

    kappa: float = DEFAULT_KAPPA
    temperature: float = 1.0
    rng: np.random.Generator = dataclasses.field(default_factory=np.random.default_rng)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if not np.isfinite(self.kappa):
            raise ValueError(f"kappa must be finite, got {self.kappa}")

    def __call__(self, logits: NDArray) -> NDArray:
        """(n, C) logits -> (n,) int64 sampled classes (Gumbel-max on the tilted logits)."""
        tilted = tilt_return_logits(logits, self.kappa, self.temperature)
        return np.argmax(tilted + self.rng.gumbel(size=tilted.shape), axis=-1).astype(np.int64)
