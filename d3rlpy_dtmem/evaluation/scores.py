"""Scores: raw returns, reference-normalized Atari scores, success rates.

A reference table is a CSV file with a ``game`` column and one column per reference score.
The package ships ``atari_scores.csv`` with a row for each of the 38 games of the DT-Mem
splits and of the project's earlier fine-tuning list, with columns

* ``random`` and ``human``: the random-play and human scores of the Atari literature;
* ``dqn``: DQN after 50M agent steps (200M frames, sticky actions), the agent that recorded
  the DQN-Replay dataset, averaged over its 5 runs (the final iteration of Dopamine's DQN
  baseline runs). It is the reference of the DQN-normalized scores of Multi-Game DT and DT-Mem.

A score normalized by a reference column is::

    (score - random) / (reference - random)

so 0 is random play and 1 the reference. Any other table of the same form can be given.
A cell may be empty (a reference not shipped): those scores are then not given for that
game. Carnival, not one of the 57 games of the random/human tables, has only its DQN score,
so it is scored by its raw return.
"""

import csv
import functools
import os
from importlib import resources

import numpy as np
from d3rlpy.types import NDArray

__all__ = [
    "WEAK_REFERENCE_FRACTION",
    "ReferenceTable",
    "atari_reference_table",
    "dqn_normalized_score",
    "human_normalized_score",
    "load_reference_table",
    "has_reference",
    "normalized_score",
    "weak_reference",
]

# A reference less than this fraction of the human-random gap above random play inflates
# normalized scores (TimePilot: DQN 86 points above random, 5% of the gap).
WEAK_REFERENCE_FRACTION = 0.1

ReferenceTable = dict[str, dict[str, float]]
"""``{game: {column: score}}``, e.g. ``{"Pong": {"random": -20.7, "human": 14.6}}``."""


def load_reference_table(path: str | os.PathLike) -> ReferenceTable:
    """Reads a reference CSV (``game`` column, then one numeric column per reference).

    Raises:
        ValueError: no ``game`` or no ``random`` column, a duplicate game, a value that is
            not a number; the message names the file and the row.
    """
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0]) if rows else []
    if "game" not in columns or "random" not in columns:
        raise ValueError(f"{path}: a reference table needs 'game' and 'random' columns")
    table: ReferenceTable = {}
    for line, row in enumerate(rows, start=2):
        game = row.pop("game").strip()
        if game in table:
            raise ValueError(f"{path}:{line}: game {game!r} is listed twice")
        try:
            table[game] = {name: float(value) for name, value in row.items() if value != ""}
        except (TypeError, ValueError):
            raise ValueError(f"{path}:{line}: scores of {game!r} must be numbers") from None
    return table


@functools.cache
def _packaged_table() -> ReferenceTable:
    with resources.as_file(resources.files(__package__) / "atari_scores.csv") as path:
        return load_reference_table(path)


def atari_reference_table() -> ReferenceTable:
    """The shipped random, human and DQN scores of 38 Atari games (a copy, safe to modify)."""
    return {game: dict(scores) for game, scores in _packaged_table().items()}


def normalized_score(
    scores: NDArray | float,
    game: str,
    reference: str = "human",
    table: ReferenceTable | None = None,
) -> NDArray:
    """``(scores - random) / (reference - random)`` for ``game``.

    Args:
        scores: raw scores (any shape).
        game: the game's name as in the table (ale-py names: ``"Pong"``, ``"MsPacman"``).
        reference: the column to normalize by (``"human"`` or ``"dqn"`` in the shipped table).
        table: a reference table (default: the shipped Atari table).

    Returns:
        float64 array of the shape of ``scores``: 0 is random play, 1 the reference.

    Raises:
        ValueError: the game or the reference column is not in the table.
    """
    table = _packaged_table() if table is None else table
    if game not in table:
        raise ValueError(f"no reference scores for game {game!r} (known: {', '.join(table)})")
    row = table[game]
    if reference not in row or "random" not in row:
        raise ValueError(
            f"no {reference!r} reference score for {game!r} (columns: {', '.join(row)})"
        )
    scale = row[reference] - row["random"]
    if scale == 0:
        raise ValueError(f"{game!r}: the {reference!r} and random scores are equal")
    return (np.asarray(scores, dtype=np.float64) - row["random"]) / scale


def weak_reference(game: str, reference: str = "dqn", table: ReferenceTable | None = None) -> str:
    """A one-line warning when ``game``'s ``reference`` score is barely above random play
    (less than :data:`WEAK_REFERENCE_FRACTION` of the human-random gap), else ``""``.

    A score normalized by such a reference is large for ordinary play: TimePilot's DQN
    reference is 86 points above random, so a score of 5000 is 1658% DQN-normalized.
    """
    table = _packaged_table() if table is None else table
    row = table.get(game, {})
    if not {"random", "human", reference} <= set(row):
        return ""
    margin, gap = row[reference] - row["random"], row["human"] - row["random"]
    if gap <= 0 or margin >= WEAK_REFERENCE_FRACTION * gap:
        return ""
    name = "DQN" if reference == "dqn" else reference
    return (
        f"{game}: the {name} reference is only {margin:.0f} points above random play "
        f"({margin / gap:.0%} of the human-random gap), so its {name}-normalized scores "
        "are inflated"
    )


def has_reference(game: str, reference: str, table: ReferenceTable | None = None) -> bool:
    """The table has ``game``'s random and ``reference`` scores."""
    row = (_packaged_table() if table is None else table).get(game, {})
    return "random" in row and reference in row and row[reference] != row["random"]


def human_normalized_score(scores: NDArray | float, game: str) -> NDArray:
    """``(scores - random) / (human - random)`` with the shipped Atari table."""
    return normalized_score(scores, game, "human")


def dqn_normalized_score(scores: NDArray | float, game: str) -> NDArray:
    """``(scores - random) / (dqn - random)`` with the shipped Atari table."""
    return normalized_score(scores, game, "dqn")
