"""d3rlpy-dtmem: DT-Mem (Decision Transformers with Working Memory) as a d3rlpy algorithm.

Importing this package registers ``DTMemConfig`` with d3rlpy, so that
``d3rlpy.load_learnable("model.d3")`` can rebuild a saved DT-Mem.
"""

from . import _moved
from ._compat import import_gym_quietly

import_gym_quietly()
_moved.install()

from .algo import DTMem, DTMemConfig  # noqa: E402
from .impl import DTMemImpl  # noqa: E402

__all__ = ["DTMem", "DTMemConfig", "DTMemImpl", "__version__"]

__version__ = "0.1.0.dev0"
