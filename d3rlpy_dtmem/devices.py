"""Torch devices named by the user: checked before any work, with a one-line error.

``resolve_device("auto")`` is ``"cuda:0"`` when CUDA is available, else ``"cpu:0"``;
``"cpu"``, ``"cpu:0"``, ``"cuda"``, ``"cuda:N"`` and ``"mps"`` are accepted when this
machine has them. Anything else (``"gpu"``, a CUDA index out of range, CUDA on a CPU-only
build of torch) raises ``ValueError`` naming the device, what is wrong and what is available.
"""

import re

import torch

__all__ = ["available_devices", "resolve_device"]

_DEVICE = re.compile(r"(cpu|cuda|mps)(?::(\d+))?")


def available_devices() -> list[str]:
    """The devices this machine offers: ``cpu:0``, then ``cuda:N`` and ``mps`` if present."""
    devices = ["cpu:0"]
    if torch.cuda.is_available():
        devices += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(device: str) -> str:
    """The device to use for ``device`` (see the module docstring).

    Raises:
        ValueError: an unknown or unavailable device, in one line.
    """
    available = available_devices()
    name = str(device).strip().lower()
    if name == "auto":
        return "cuda:0" if "cuda:0" in available else "cpu:0"
    match = _DEVICE.fullmatch(name)
    choices = ", ".join([*available, "auto"])
    if match is None:
        raise ValueError(f"device {device!r} is not a torch device; available: {choices}")
    kind, index = match.group(1), int(match.group(2) or 0)
    resolved = "mps" if kind == "mps" else f"{kind}:{index}"
    if resolved in available:
        return resolved
    if kind == "cuda" and not torch.cuda.is_available():
        why = "this torch has no CUDA" if torch.version.cuda is None else "no CUDA device found"
        raise ValueError(f"device {device!r}: {why}; available: {choices}")
    raise ValueError(f"device {device!r} is not on this machine; available: {choices}")
