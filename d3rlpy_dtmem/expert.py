"""Expert-return inference (Multi-Game DT): condition on a return sampled toward high returns.

A discrete DT-Mem predicts, at each step's state token, a distribution over integer return
classes (``return_range``, class i = return ``low + i`` in the units the model was trained
on, i.e. after ``reward_scaler``); the prediction of R̂_t does not depend on R̂_t. At each
step the distribution is tilted toward high returns and a return is sampled from it::

    logits' = (logits + kappa * linspace(0, 1, classes)) / temperature
    R̂_t ~ softmax(logits')

i.e. ``P(R̂) ∝ P(R̂ | s, ...) * exp(kappa * (R̂ - low) / (high - low))`` at temperature 1,
the "optimality prior" of Multi-Game DT. ``samples`` returns are drawn and the highest is
kept. The action is then predicted conditioned on the sampled R̂_t, so no per-game target
return is needed; :class:`TopPercentileActionSampler` samples it among the likelier actions.

Defaults, from Multi-Game DT (Lee et al. 2022, arXiv 2205.15241, §3.3 and its released
inference settings): kappa 10 (:data:`DEFAULT_KAPPA`), return temperature 0.75
(:data:`DEFAULT_RETURN_TEMPERATURE`), best of 128 sampled returns
(:data:`DEFAULT_RETURN_SAMPLES`), actions sampled among the top 50 percent of the action
logits (:data:`DEFAULT_ACTION_TOP_PERCENTILE`). ``ReturnSampler(temperature=1, samples=1)``
and a plain softmax action sampler give the single-sample form of earlier versions.
"""

import dataclasses

import numpy as np
from d3rlpy.types import NDArray

__all__ = [
    "DEFAULT_ACTION_TOP_PERCENTILE",
    "DEFAULT_KAPPA",
    "DEFAULT_RETURN_SAMPLES",
    "DEFAULT_RETURN_TEMPERATURE",
    "ReturnSampler",
    "TopPercentileActionSampler",
    "is_expert_target",
    "tilt_return_logits",
]

DEFAULT_KAPPA = 10.0
DEFAULT_RETURN_TEMPERATURE = 0.75
DEFAULT_RETURN_SAMPLES = 128
DEFAULT_ACTION_TOP_PERCENTILE = 50.0
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
        samples: returns drawn per step; the highest is kept (best of N).
    """

    kappa: float = DEFAULT_KAPPA
    temperature: float = DEFAULT_RETURN_TEMPERATURE
    rng: np.random.Generator = dataclasses.field(default_factory=np.random.default_rng)
    samples: int = DEFAULT_RETURN_SAMPLES

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if not np.isfinite(self.kappa):
            raise ValueError(f"kappa must be finite, got {self.kappa}")
        if isinstance(self.samples, bool) or int(self.samples) != self.samples or self.samples < 1:
            raise ValueError(f"samples must be an integer >= 1, got {self.samples!r}")

    def __call__(self, logits: NDArray) -> NDArray:
        """(n, C) logits -> (n,) int64 classes: the highest of ``samples`` Gumbel-max draws
        from the tilted logits."""
        tilted = tilt_return_logits(logits, self.kappa, self.temperature)[:, None]  # (n, 1, C)
        noise = self.rng.gumbel(size=(tilted.shape[0], int(self.samples), tilted.shape[-1]))
        draws = np.argmax(tilted + noise, axis=-1)  # (n, N): class indices, high = high return
        return draws.max(axis=-1).astype(np.int64)


@dataclasses.dataclass
class TopPercentileActionSampler:
    """A d3rlpy action sampler: softmax sampling among the actions whose logits lie above
    the ``percentile``-th percentile of the step's logits (the likeliest always stays).

    Args:
        percentile: 0 keeps every action (plain softmax sampling); 50 (Multi-Game DT) the
            upper half.
        temperature: softmax temperature (> 0).
        rng: numpy generator.
    """

    percentile: float = DEFAULT_ACTION_TOP_PERCENTILE
    temperature: float = 1.0
    rng: np.random.Generator = dataclasses.field(default_factory=np.random.default_rng)

    def __post_init__(self) -> None:
        if not 0 <= self.percentile < 100:
            raise ValueError(f"percentile must be in [0, 100), got {self.percentile}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")

    def __call__(self, logits: NDArray) -> int:
        """(A,) action logits -> a sampled action index."""
        logits = np.asarray(logits, dtype=np.float64)
        keep = logits > np.percentile(logits, self.percentile) if self.percentile > 0 else True
        keep = keep | (logits == logits.max())
        tempered = np.where(keep, logits / self.temperature, -np.inf)
        return int(np.argmax(tempered + self.rng.gumbel(size=logits.shape)))
