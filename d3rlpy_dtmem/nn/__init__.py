"""Torch modules of DT-Mem: tokens, trunk, working memory, heads."""

from .heads import MLPHead
from .memory import MEMORY_ADDRESSING, MemoryRead, WorkingMemory, recurrent_read
from .model import DTMemModel, DTMemOutput, create_dtmem_model
from .tokens import PREDICTED_FROM, TOKEN_ORDER, TOKENS_PER_STEP
from .trunk import Trunk, attention_mask

__all__ = [
    "DTMemModel",
    "DTMemOutput",
    "MEMORY_ADDRESSING",
    "MemoryRead",
    "MLPHead",
    "PREDICTED_FROM",
    "TOKEN_ORDER",
    "TOKENS_PER_STEP",
    "Trunk",
    "WorkingMemory",
    "attention_mask",
    "create_dtmem_model",
    "recurrent_read",
]
