"""LoRA adapters on the working memory (paper §4.4), built on ``peft``'s integration API
(``peft.functional``: inject, set and delete adapters, get and set their state dicts) and
its ``LoraConfig``.

The functions here act on a plain ``nn.Module`` (the DT-Mem network);
:class:`~d3rlpy_dtmem.finetuning.Adapters` gives :class:`~d3rlpy_dtmem.DTMem` its adapter
methods on top of them.

An adapter file is a ``torch.save`` of::

    {"format": "d3rlpy-dtmem-adapter", "version": 1, "name": str,
     "lora": {"rank", "alpha", "dropout", "targets"},      # targets: wrapped module names
     "base": {"fingerprint", "observation_shape", "action_size", "config"},
     "state_dict": {<module>.lora_A.weight: ..., <module>.lora_B.weight: ...}}

``base.fingerprint`` is a SHA-256 of the base weights (LoRA excluded): an adapter is only
loaded onto the base model it was trained on.
"""

import dataclasses
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "MEMORY_TARGETS",
    "FINETUNE_MODES",
    "LoRASettings",
    "AdapterError",
    "inject_lora",
    "lora_layers",
    "adapter_names",
    "active_adapter_names",
    "activate_adapter",
    "remove_lora",
    "set_trainable",
    "adapter_settings",
    "adapter_state_dict",
    "load_adapter_state_dict",
    "load_base_state_dict",
    "base_state_dict",
    "base_fingerprint",
    "read_adapter_file",
    "write_adapter_file",
]

# The memory module's nn.Linear layers (see nn/memory.py).
MEMORY_TARGETS = r"(.*\.)?memory\.(address_query|address_key|write_query|write_key|value|out)"
FINETUNE_MODES = ("lora", "full-memory", "full")
_FORMAT = "d3rlpy-dtmem-adapter"
_VERSION = 1


class AdapterError(ValueError):
    """An adapter that cannot be used: wrong file, wrong base model, unknown name."""


@dataclasses.dataclass(frozen=True)
class LoRASettings:
    """LoRA hyperparameters of one adapter.

    Args:
        rank: rank ``r`` of the update ``B A``.
        alpha: scale numerator; the update is scaled by ``alpha / rank``.
        dropout: dropout on the adapter's input.
        targets: ``"memory"`` (the memory module's linear layers), a regular expression,
            or a list of module names / patterns.
    """

    rank: int = 4
    alpha: float = 8.0
    dropout: float = 0.0
    targets: str | Sequence[str] = "memory"

    def __post_init__(self) -> None:
        if self.rank <= 0:
            raise ValueError(f"LoRA rank must be positive, got {self.rank}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")

    def pattern(self) -> str:
        """The ``target_modules`` regular expression given to peft."""
        if self.targets == "memory":
            return MEMORY_TARGETS
        if isinstance(self.targets, str):
            return self.targets
        return "|".join(f"(.*\\.)?{target}" for target in self.targets)


def inject_lora(model: nn.Module, name: str, settings: LoRASettings) -> list[str]:
    """Wraps the target ``nn.Linear`` layers of ``model`` with a LoRA adapter ``name``.

    Returns:
        the names of the wrapped modules.
    """
    from peft import LoraConfig
    from peft.functional import inject_adapter_in_model

    if name in adapter_names(model):
        raise AdapterError(f"an adapter named {name!r} is already loaded")
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.pattern(),
    )
    with warnings.catch_warnings():
        # several adapters in one model is the point of multi-task serving
        warnings.filterwarnings("ignore", message=".*multiple adapters.*")
        try:
            inject_adapter_in_model(config, model, adapter_name=name)
        except ValueError as error:
            raise AdapterError(f"no layer matches LoRA targets {settings.targets!r}") from error
    return adapter_settings(model, name)["targets"]


def _tuner_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The peft adapter layers (``BaseTunerLayer``) of ``model``, with their names."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [(n, m) for n, m in model.named_modules() if isinstance(m, BaseTunerLayer)]


def lora_layers(model: nn.Module) -> list[nn.Module]:
    """The peft adapter layers of ``model``."""
    return [layer for _, layer in _tuner_layers(model)]


def _configs(model: nn.Module) -> dict[str, Any]:
    """peft's record of the adapters injected into ``model``: name -> ``LoraConfig``."""
    return dict(getattr(model, "peft_config", {}))


def adapter_names(model: nn.Module) -> list[str]:
    """Names of the adapters loaded in ``model``, sorted."""
    return sorted(_configs(model))


def active_adapter_names(model: nn.Module) -> list[str]:
    """The adapters that forward passes apply (peft's ``active_adapters`` of every layer)."""
    return sorted({name for layer in lora_layers(model) for name in layer.active_adapters})


def activate_adapter(model: nn.Module, name: str, trainable: bool = True) -> None:
    """Makes ``name`` the active adapter; only its weights require grad (if ``trainable``)."""
    from peft.functional import set_adapter

    if name not in adapter_names(model):
        raise AdapterError(f"no adapter named {name!r}; loaded: {adapter_names(model)}")
    set_adapter(model, name, inference_mode=not trainable)
    trained = set(adapter_state_dict(model, name, with_names=True)) if trainable else set()
    set_trainable(model, lambda parameter_name: parameter_name in trained)


def set_trainable(model: nn.Module, predicate: Callable[[str], bool]) -> None:
    """Parameters whose name satisfies ``predicate`` train; the others are frozen.

    Frozen parameters also drop their gradient: a stale zero gradient would still let AdamW
    apply weight decay to them.
    """
    for parameter_name, parameter in model.named_parameters():
        parameter.requires_grad = predicate(parameter_name)
        if not parameter.requires_grad:
            parameter.grad = None


def remove_lora(model: nn.Module, merge: str | None = None) -> None:
    """Replaces every adapter layer by its base layer, after merging adapter ``merge``."""
    from peft.functional import delete_adapter

    for module_name, layer in _tuner_layers(model):
        if merge is not None and merge in layer.active_adapters:
            layer.merge(adapter_names=[merge])
        parent_name, _, child = module_name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, layer.get_base_layer())
    for name in adapter_names(model):
        delete_adapter(model, name, prefix="lora_")  # no adapter layers are left to visit
        model.peft_config.pop(name)  # delete_adapter leaves the model's record of the config


def adapter_settings(model: nn.Module, name: str) -> dict[str, Any]:
    """Rank, alpha, dropout (peft's ``LoraConfig``) and wrapped module names of ``name``."""
    config = _configs(model).get(name)
    if config is None:
        raise AdapterError(f"no adapter named {name!r}; loaded: {adapter_names(model)}")
    weights = adapter_state_dict(model, name, with_names=True)  # no copies of the weights
    wrapped = sorted({key.rpartition(".lora_")[0] for key in weights})
    return {
        "rank": int(config.r),
        "alpha": float(config.lora_alpha),
        "dropout": float(config.lora_dropout),
        "targets": wrapped,
    }


def adapter_state_dict(
    model: nn.Module, name: str, with_names: bool = False
) -> dict[str, torch.Tensor]:
    """Weights of adapter ``name`` (peft's ``get_peft_model_state_dict``), keyed
    ``<module>.lora_A.weight``; with ``with_names``, keyed as in ``model.state_dict()``."""
    from peft.functional import get_peft_model_state_dict

    state = get_peft_model_state_dict(model, adapter_name=name)
    if not with_names:
        return {key: value.detach().clone() for key, value in state.items()}
    # peft drops the adapter name from the keys; the model's own names carry it
    parameters = dict(model.named_parameters())
    named = {}
    for key in state:
        module, _, rest = key.rpartition(".lora_")
        kind, _, leaf = rest.partition(".")
        named[f"{module}.lora_{kind}.{name}.{leaf}"] = parameters[
            f"{module}.lora_{kind}.{name}.{leaf}"
        ]
    return named


def load_adapter_state_dict(model: nn.Module, name: str, state: dict[str, torch.Tensor]) -> None:
    """Copies :func:`adapter_state_dict`-style weights into adapter ``name`` of ``model``
    (peft's ``set_peft_model_state_dict``)."""
    from peft.functional import set_peft_model_state_dict

    expected = adapter_state_dict(model, name)
    if set(expected) != set(state):
        raise AdapterError("adapter weights do not match the wrapped layers of this model")
    for key, value in state.items():
        if expected[key].shape != value.shape:
            raise AdapterError(f"adapter weight {key} has shape {tuple(value.shape)}")
    result = set_peft_model_state_dict(model, state, adapter_name=name)
    if result.unexpected_keys:
        raise AdapterError(f"adapter weights not loaded: {sorted(result.unexpected_keys)[:3]}")


def base_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict ``model`` would have without LoRA (``base_layer`` unwrapped)."""
    return {
        key.replace(".base_layer.", "."): value
        for key, value in model.state_dict().items()
        if ".lora_" not in key
    }


def load_base_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Loads a base (LoRA-free) state dict into ``model``, LoRA layers or not."""
    current = {key.replace(".base_layer.", "."): key for key in model.state_dict()}
    current = {base: key for base, key in current.items() if ".lora_" not in key}
    if set(current) != set(state):
        missing = sorted(set(current) - set(state))[:3]
        unexpected = sorted(set(state) - set(current))[:3]
        raise RuntimeError(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.load_state_dict({current[base]: value for base, value in state.items()}, strict=False)


def base_fingerprint(model: nn.Module) -> str:
    """SHA-256 of the base weights (names, shapes and values; LoRA excluded)."""
    from .checkpoint import state_fingerprint

    return state_fingerprint(base_state_dict(model))


def write_adapter_file(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Writes an adapter file atomically (temporary file + rename)."""
    from .files import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        torch.save({"format": _FORMAT, "version": _VERSION, **payload}, f)


def read_adapter_file(path: str | os.PathLike) -> dict[str, Any]:
    """Reads and checks an adapter file; :class:`AdapterError` names what is wrong."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise AdapterError(f"{path}: no such adapter file") from None
    except Exception as error:  # torch raises many kinds for truncated or foreign files
        raise AdapterError(
            f"{path}: not a readable adapter file ({error.__class__.__name__})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise AdapterError(f"{path}: not a d3rlpy-dtmem adapter file")
    if payload.get("version") != _VERSION:
        raise AdapterError(f"{path}: unsupported adapter file version {payload.get('version')}")
    return payload
