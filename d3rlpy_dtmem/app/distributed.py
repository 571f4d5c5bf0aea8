"""Data-parallel training with d3rlpy's DDP, launched by ``torchrun``: the per-rank pieces.

d3rlpy does the gradient averaging (``create(enable_ddp=True)`` wraps the network in
``DistributedDataParallel``). What a training script adds, on every rank::

    context = init_distributed()                       # joins torchrun's process group
    d3rlpy.seed(seed)                                  # same initial weights everywhere
    buffer = load_minari(ids, seed=rank_seed(seed))    # each rank its own batches
    algo = config.create(device=context.device, enable_ddp=True)
    algo.fit(buffer, ..., logger_adapter=rank_logger_adapter(FileAdapterFactory(...)))
    if context.is_main:
        algo.save("model.d3")
    shutdown_distributed()

Each rank samples its own mini-batches (seeded ``base + rank``), so a step of ``W`` ranks
averages ``W`` different batches of ``batch_size`` windows. Only rank 0 logs and writes
checkpoints (``fit``'s ``model_N.d3`` go through the logger). Changing which parameters
train rebuilds the DDP wrapper (``configure_finetuning``, ``disable_lora``, ``merge_adapter``
at once; ``enable_lora``, ``set_adapter``, ``load_adapter`` at the next ``fit``/``update``):
these calls are collective and every rank must make them, in the same order.
"""

import dataclasses
import os

import torch
import torch.distributed as dist
from d3rlpy.logging import LoggerAdapterFactory, NoopAdapterFactory
from torch import nn

from ..checkpoint import state_fingerprint

__all__ = [
    "DistributedContext",
    "init_distributed",
    "shutdown_distributed",
    "current_rank",
    "is_main_process",
    "rank_seed",
    "rank_logger_adapter",
    "replica_fingerprints",
]

_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the process group.

    Attributes:
        rank: global rank (0 .. world_size - 1).
        local_rank: rank on this machine (selects the GPU).
        world_size: number of processes.
        backend: ``"nccl"`` or ``"gloo"``.
        device: the device to create the algorithm on (``cuda:<local_rank>`` or ``cpu:0``).
    """

    rank: int
    local_rank: int
    world_size: int
    backend: str
    device: str

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that logs and saves."""
        return self.rank == 0


def init_distributed(backend: str | None = None) -> DistributedContext:
    """Joins the process group of a ``torchrun`` launch (d3rlpy's ``init_process_group``).

    Args:
        backend: ``"nccl"`` (GPUs) or ``"gloo"`` (CPU); ``None`` picks nccl when CUDA is
            available, gloo otherwise.

    Returns:
        this process's :class:`DistributedContext`.

    Raises:
        RuntimeError: not started by ``torchrun`` (its environment variables are missing).
    """
    from d3rlpy.distributed import init_process_group

    missing = [name for name in _TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise RuntimeError(
            f"init_distributed: {', '.join(missing)} not set; launch the script with "
            "torchrun, e.g. 'torchrun --standalone --nproc_per_node 2 script.py'"
        )
    cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if cuda else "gloo")
    local_rank = int(os.environ["LOCAL_RANK"])
    rank = init_process_group(backend)
    device = f"cuda:{local_rank}" if cuda and backend == "nccl" else "cpu:0"
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
    return DistributedContext(rank, local_rank, dist.get_world_size(), backend, device)


def shutdown_distributed() -> None:
    """Waits for every rank, then leaves the process group (nothing to do when none was
    joined). Collective: every rank calls it.

    The barrier keeps a rank that finishes first (while rank 0 still saves) from tearing
    its connections down under the others: without it, a 2-rank gloo run was once seen to
    abort at exit ("terminate called without an active exception").
    """
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def current_rank() -> int:
    """This process's global rank; 0 without a process group."""
    return dist.get_rank() if dist.is_initialized() else 0


def is_main_process() -> bool:
    """True on rank 0, or without a process group."""
    return current_rank() == 0


def rank_seed(base_seed: int) -> int:
    """``base_seed + rank``: the batch-sampler seed that gives each rank its own batches."""
    return base_seed + current_rank()


def rank_logger_adapter(factory: LoggerAdapterFactory) -> LoggerAdapterFactory:
    """``factory`` on rank 0, a no-op logger elsewhere: only rank 0 writes logs and the
    per-epoch ``model_N.d3`` files of ``fit``."""
    return factory if is_main_process() else NoopAdapterFactory()


def replica_fingerprints(module: nn.Module) -> list[str]:
    """SHA-256 of ``module``'s state (every parameter and buffer) on every rank, by rank.

    A collective call. Data-parallel replicas are in sync when all fingerprints are equal
    (:func:`~d3rlpy_dtmem.checkpoint.state_fingerprint`).
    """
    fingerprint = state_fingerprint(module.state_dict())
    if not dist.is_initialized():
        return [fingerprint]
    gathered: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, fingerprint)
    return [str(value) for value in gathered]
