"""d3rlpy-dtmem: DT-Mem (Decision Transformers with Working Memory) as a d3rlpy algorithm.

Importing this package registers ``DTMemConfig`` with d3rlpy, so that
``d3rlpy.load_learnable("model.d3")`` can rebuild a saved DT-Mem. The registration happens
when d3rlpy itself is imported (at once if it already is), so importing the package alone,
e.g. for ``dtmem --help``, does not load torch.
"""

import importlib
from typing import Any

from . import _moved
from ._registration import register_with_d3rlpy

_moved.install()
register_with_d3rlpy()

__all__ = ["DTMem", "DTMemConfig", "DTMemImpl", "__version__"]

__version__ = "0.1.0.dev0"

_LAZY = {"DTMem": "algo", "DTMemConfig": "algo", "DTMemImpl": "impl"}


def __getattr__(name: str) -> Any:
    """Loads the algorithm (and torch) on first use of one of its names (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
