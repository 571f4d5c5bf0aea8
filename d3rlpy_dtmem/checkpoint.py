"""Model checkpoints: atomic writes, and reloading a ``.d3`` file to resume training.

A ``.d3`` file is d3rlpy's (what ``d3rlpy.load_learnable`` reads): a pickle of
``{"torch": bytes, "config": str, "version": str}``, where ``torch`` holds the network and the
optimizer state (d3rlpy's optimizer state includes the learning-rate scheduler's). DT-Mem adds
one key, ``"grad_step"``, the algorithm's update counter, which d3rlpy does not save and
ignores when loading; :func:`load_checkpoint` restores it.

Every file is written to a temporary name in the destination folder, flushed to disk and
renamed over the destination, so a crash or a full disk mid-save leaves either the previous
file or none, never a truncated one.
"""

import hashlib
import io
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import d3rlpy
import torch
from d3rlpy.base import DeviceArg, LearnableConfigWithShape
from d3rlpy.logging import LOG

from .files import atomic_write

if TYPE_CHECKING:
    from .algo import DTMem

__all__ = [
    "GRAD_STEP_KEY",
    "state_fingerprint",
    "CheckpointError",
    "write_checkpoint",
    "load_checkpoint",
]

GRAD_STEP_KEY = "grad_step"
_DTMEM_TYPE = "dt_mem"  # DTMemConfig.get_type(): this module does not import the algorithm
_KEYS = ("torch", "config", "version")


class CheckpointError(ValueError):
    """A model file that cannot be loaded: missing, truncated, corrupt or not DT-Mem."""


def write_checkpoint(algo: "DTMem", path: str | os.PathLike) -> None:
    """Writes ``algo`` as a ``.d3`` file (the module docstring), atomically."""
    impl = algo.impl
    assert impl is not None, "the algorithm is not built"
    weights = io.BytesIO()
    impl.save_model(weights)
    shaped = LearnableConfigWithShape(
        observation_shape=impl.observation_shape,
        action_size=impl.action_size,
        config=algo.config,
    )
    payload = {
        "torch": weights.getvalue(),
        "config": shaped.serialize(),
        "version": d3rlpy.__version__,
        GRAD_STEP_KEY: int(algo.grad_step),
    }
    with atomic_write(path) as f:
        pickle.dump(payload, f)


def _read_payload(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such model file")
    kind = _torch_archive_kind(path)
    if kind is not None:
        raise CheckpointError(f"{path}: {kind}, not a DT-Mem model (.d3)")
    try:
        with open(path, "rb") as f:
            payload = pickle.load(f)
    except Exception as error:  # pickle raises many kinds for truncated or foreign bytes
        raise CheckpointError(
            f"{path}: not a readable d3rlpy model (truncated or corrupt: "
            f"{error.__class__.__name__})"
        ) from None
    if not isinstance(payload, dict) or any(key not in payload for key in _KEYS):
        raise CheckpointError(f"{path}: not a d3rlpy model file (no torch/config/version)")
    return payload


def _torch_archive_kind(path: Path) -> str | None:
    """What a ``torch.save`` / TorchScript zip archive holds, or ``None`` for other files."""
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # a .d3 pickle may hold a zip, but not start with one
            return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return "a truncated or damaged zip archive"
    if any(name.split("/", 1)[-1].startswith("code/") for name in names):
        return "a TorchScript policy (from save_policy)"
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a foreign archive: say what it is not
        return "a zip archive"
    if isinstance(payload, dict) and payload.get("format") == "d3rlpy-dtmem-adapter":
        return "a LoRA adapter file (apply it to its base model with --adapter)"
    return "a torch.save file"


def load_checkpoint(
    path: str | os.PathLike, device: DeviceArg = "cpu:0", enable_ddp: bool = False
) -> "DTMem":
    """Rebuilds a DT-Mem from a ``.d3`` file, ready to continue training.

    Restores the weights, the optimizer state (moments, and the learning-rate scheduler's
    position) and ``grad_step``, so a following ``fit`` continues the same schedule. Files
    without ``grad_step`` (written by d3rlpy's own ``dump_learnable``) resume from 0.
    Unlike ``d3rlpy.load_learnable``, it can build the model for DDP training.

    Only load files you trust: ``.d3`` files are pickles.

    Args:
        path: a file written by ``DTMem.save`` (or by ``fit`` as ``model_N.d3``).
        device: device to load onto.
        enable_ddp: wrap the network in DDP (a process group must be initialised).

    Returns:
        the algorithm.

    Raises:
        CheckpointError: a missing, truncated or corrupt file, or a model other than DT-Mem,
            with a one-line message naming the file.
    """
    path = Path(path)
    payload = _read_payload(path)
    try:
        shaped = LearnableConfigWithShape.deserialize(payload["config"])
    except Exception as error:
        raise CheckpointError(
            f"{path}: unreadable model config ({error.__class__.__name__}: {error})"
        ) from None
    if shaped.config.get_type() != _DTMEM_TYPE:
        algorithm = type(shaped.config).__name__.removesuffix("Config")
        raise CheckpointError(f"{path}: a {algorithm} model, not DT-Mem")
    if payload["version"] != d3rlpy.__version__:
        LOG.warning(
            "model file written by another d3rlpy version",
            path=str(path),
            saved=payload["version"],
            current=d3rlpy.__version__,
        )
    algo = shaped.config.create(device, enable_ddp)
    algo.create_impl(shaped.observation_shape, shaped.action_size)
    assert algo.impl is not None
    try:
        algo.impl.load_model(io.BytesIO(payload["torch"]))
    except Exception as error:
        raise CheckpointError(
            f"{path}: weights do not load ({error.__class__.__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'corrupt'})"
        ) from None
    algo.set_grad_step(int(payload.get(GRAD_STEP_KEY, 0)))
    return algo


def state_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: every entry's name, shape and raw bytes, in name order.

    Equal for equal weights whatever their device; any dtype (bfloat16 included).
    """
    digest = hashlib.sha256()
    for name, value in sorted(state.items()):
        digest.update(name.encode())
        digest.update(str(tuple(value.shape)).encode())
        # (any dtype) -> raw bytes
        digest.update(value.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()
