"""Adapter mode and fine-tuning modes of :class:`~d3rlpy_dtmem.DTMem` (paper §4.4, Table 7).

Three ways to adapt a pre-trained DT-Mem to a new task, all trained by the same ``fit``:

* ``"lora"``: LoRA adapters on the memory module's linear layers, everything else frozen
  (the paper's method);
* ``"full-memory"``: every parameter of the memory module, nothing else;
* ``"full"``: every parameter.

With LoRA enabled, ``save()`` writes the base model only (LoRA stripped, base weights and
the base optimizer state unchanged): ``d3rlpy.load_learnable`` gives back the base, and the
adapters live in their own small files (``save_adapter`` / ``load_adapter``).
"""

import dataclasses
import os
import re
from typing import TYPE_CHECKING, Any

from d3rlpy.constants import IMPL_NOT_INITIALIZED_ERROR
from d3rlpy.logging import LOG

from .adapters import (
    FINETUNE_MODES,
    AdapterError,
    LoRASettings,
    activate_adapter,
    active_adapter_names,
    adapter_names,
    adapter_settings,
    adapter_state_dict,
    base_fingerprint,
    inject_lora,
    load_adapter_state_dict,
    read_adapter_file,
    remove_lora,
    set_trainable,
    write_adapter_file,
)
from .lr_schedules import with_cosine_decay

if TYPE_CHECKING:
    from .algo import DTMem
    from .impl import DTMemImpl

__all__ = ["Adapters", "DEFAULT_LORA_LEARNING_RATE"]

# Learning rate of LoRA adapters unless given: adapters start at zero and train few
# parameters, so they need a larger rate than the base model (chosen by the sweep in
# benchmarks/lora_sweep.py; docs/results.md).
DEFAULT_LORA_LEARNING_RATE = 1e-3


class Adapters:
    """LoRA adapters and fine-tuning modes of one DT-Mem: its ``adapters`` component.

    Works through the algorithm's public API (``impl``, ``config``, ``grad_step``) and keeps
    its own state: each adapter's learning rate and first step, and the adapter whose
    training set-up is pending. :class:`~d3rlpy_dtmem.DTMem` exposes every public method
    and property here under the same name (``algo.enable_lora(...)`` is
    ``algo.adapters.enable_lora(...)``).
    """

    def __init__(self, algo: "DTMem"):
        self._algo = algo
        self._learning_rates: dict[str, float] = {}  # adapter -> peak learning rate
        self._decay_steps: dict[str, int | None] = {}  # adapter -> updates to rate 0, or None
        self._start_steps: dict[str, int] = {}  # adapter -> grad_step when it was added
        self._to_train: str | None = None  # adapter whose optimizer is still to be built

    def _built_impl(self) -> "DTMemImpl":
        impl = self._algo.impl
        assert impl is not None, IMPL_NOT_INITIALIZED_ERROR
        return impl

    @property
    def lora_adapters(self) -> list[str]:
        """Names of the loaded adapters."""
        return adapter_names(self._built_impl().model)

    @property
    def adapter_steps(self) -> int:
        """Updates the active adapter has had since it was added (0 without one)."""
        name = self.active_adapter
        if name is None:
            return 0
        start = self._start_steps.get(name, 0)
        return int(self._algo.grad_step) - start

    @property
    def adapter_decay_steps(self) -> int | None:
        """Updates after which the active adapter's rate reaches 0 (``None``: no decay)."""
        name = self.active_adapter
        return None if name is None else self._decay_steps.get(name)

    @property
    def active_adapter(self) -> str | None:
        """The adapter applied in forward passes, or ``None``."""
        active = active_adapter_names(self._built_impl().model)
        return active[0] if len(active) == 1 else None

    def parameter_counts(self) -> dict[str, int]:
        """``{"trainable": ..., "total": ...}`` parameters of the network."""
        parameters = list(self._built_impl().model.parameters())
        return {
            "trainable": sum(p.numel() for p in parameters if p.requires_grad),
            "total": sum(p.numel() for p in parameters),
        }

    def enable_lora(
        self,
        rank: int = 4,
        alpha: float = 8.0,
        dropout: float = 0.0,
        targets: str | list[str] = "memory",
        name: str = "default",
        learning_rate: float | None = None,
        decay_steps: int | None = None,
    ) -> None:
        """Adds LoRA adapter ``name`` and trains only it from now on.

        Wraps the target ``nn.Linear`` layers (by default the memory module's six) with peft
        LoRA, freezes every other parameter and rebuilds the optimizer over the adapter's
        weights, so ``fit`` trains the adapter.

        Args:
            rank: LoRA rank (the paper's best: 4).
            alpha: LoRA scale numerator (update scaled by ``alpha / rank``).
            dropout: dropout on the adapter input.
            targets: ``"memory"``, a regular expression, or a list of module names.
            name: adapter name, for ``set_adapter`` and multi-task serving.
            learning_rate: peak learning rate of the adapter's optimizer (default
                :data:`DEFAULT_LORA_LEARNING_RATE`; the base model's rate is not used).
            decay_steps: decay the rate to 0 over this many updates of the adapter (cosine,
                after the config's warmup); ``None``: hold it after the warmup.
        """
        impl = self._built_impl()
        decay_steps = _checked_decay(decay_steps)
        inject_lora(impl.model, name, LoRASettings(rank, alpha, dropout, targets))
        self._learning_rates[name] = _positive_rate(learning_rate)
        self._decay_steps[name] = decay_steps
        self._start_steps[name] = int(self._algo.grad_step)
        self.set_adapter(name)

    def set_adapter(self, name: str) -> None:
        """Switches to adapter ``name``: forward passes apply it and ``fit`` trains it.

        A serving call: it sets no training up. The adapter's optimizer is built (and a DDP
        wrapper rebuilt) by the next ``fit`` or ``update``.
        """
        impl = self._built_impl()
        activate_adapter(impl.model, name)
        self._to_train = name
        self._log_parameter_counts(f"LoRA adapter {name!r} active")

    def prepare_training(self) -> None:
        """Sets up training of the active adapter if a switch left it pending: a fresh
        optimizer over its weights, at its learning rate (and, under DDP, a new wrapper:
        collective). ``fit`` and ``update`` call it; a no-op otherwise."""
        name = self._to_train
        if name is None:
            return
        self._to_train = None
        impl = self._built_impl()
        weights = adapter_state_dict(impl.model, name, with_names=True)
        modules = sorted({key.rpartition(".")[0] for key in weights})  # the adapter's layers
        trainable = [(module, impl.model.get_submodule(module)) for module in modules]
        learning_rate = self._learning_rates.get(name, DEFAULT_LORA_LEARNING_RATE)
        factory = self._optim_factory(self._decay_steps.get(name))
        optim = factory.create(trainable, lr=learning_rate, compiled=False)
        impl.use_optimizer(optim, checkpointed=False)

    def save_adapter(
        self, path: str | os.PathLike, name: str | None = None, *, training_state: bool = False
    ) -> None:
        """Writes adapter ``name`` (default: the active one) to a small file of its own.

        Args:
            path: destination (written atomically).
            name: the adapter (default: the active one).
            training_state: also store what continuing its training needs (the adapter
                optimizer's state and ``grad_step``; the active adapter only), as the
                per-epoch checkpoints of ``fit`` do. :meth:`resume_adapter` reads it;
                :meth:`load_adapter` ignores it.
        """
        impl = self._built_impl()
        name = name or self.active_adapter
        if name is None or name not in self.lora_adapters:
            raise AdapterError(f"no adapter to save (loaded: {self.lora_adapters})")
        payload = {
            "name": name,
            "lora": adapter_settings(impl.model, name),
            "base": self._base_identity(),
            "state_dict": adapter_state_dict(impl.model, name),
        }
        if training_state:
            if name != self.active_adapter:
                raise AdapterError(f"the training state is the active adapter's, not {name!r}")
            payload["training"] = {
                "grad_step": int(self._algo.grad_step),
                "adapter_steps": self.adapter_steps,
                "learning_rate": self._learning_rates.get(name, DEFAULT_LORA_LEARNING_RATE),
                "decay_steps": self._decay_steps.get(name),
                "optimizer": impl.modules.optim.state_dict(),
            }
        write_adapter_file(path, payload)

    def resume_adapter(self, path: str | os.PathLike) -> str:
        """Continues an adapter's training from a checkpoint written with its training state.

        Loads the adapter (as :meth:`load_adapter`), restores its optimizer state, learning
        rate and schedule and :attr:`adapter_steps`, and sets ``grad_step`` to the
        checkpoint's, so a following ``fit`` continues the run (``fit`` counts its own
        steps from 0: give it the steps still missing).

        Returns:
            the adapter's name.

        Raises:
            AdapterError: as :meth:`load_adapter`, or a file without training state.
        """
        payload = read_adapter_file(path)
        training = payload.get("training")
        if not isinstance(training, dict):
            raise AdapterError(
                f"{path}: no training state (an adapter saved for use, not a fit checkpoint)"
            )
        name = self.load_adapter(
            path,
            learning_rate=float(training["learning_rate"]),
            decay_steps=training.get("decay_steps"),
        )
        self.prepare_training()
        try:
            self._built_impl().modules.optim.load_state_dict(training["optimizer"])
        except (ValueError, KeyError, RuntimeError) as error:
            raise AdapterError(f"{path}: optimizer state does not fit ({error})") from None
        self._algo.set_grad_step(int(training["grad_step"]))
        self._start_steps[name] = int(training["grad_step"]) - int(training["adapter_steps"])
        return name

    def load_adapter(
        self,
        path: str | os.PathLike,
        name: str | None = None,
        learning_rate: float | None = None,
        decay_steps: int | None = None,
    ) -> str:
        """Loads an adapter file onto this (base) model and makes it active.

        Args:
            path: file written by :meth:`save_adapter`.
            name: name to load it under (default: the name it was saved with).
            learning_rate: rate at which a following ``fit`` trains it (default
                :data:`DEFAULT_LORA_LEARNING_RATE`).
            decay_steps: as in :meth:`enable_lora`.

        Returns:
            the adapter's name.

        Raises:
            AdapterError: unreadable file, or an adapter trained on another base model.
        """
        decay_steps = _checked_decay(decay_steps)
        payload = read_adapter_file(path)
        base = self._base_identity()
        saved = payload["base"]
        if (tuple(saved["observation_shape"]), saved["action_size"]) != (
            tuple(base["observation_shape"]),
            base["action_size"],
        ):
            raise AdapterError(
                f"{path}: adapter for observations {tuple(saved['observation_shape'])} and "
                f"{saved['action_size']} actions, model has {tuple(base['observation_shape'])} "
                f"and {base['action_size']}"
            )
        if saved["fingerprint"] != base["fingerprint"]:
            raise AdapterError(
                f"{path}: adapter was trained on another base model (weights "
                f"{saved['fingerprint'][:12]}..., this model {base['fingerprint'][:12]}...)"
            )
        name = name or payload["name"]
        lora = payload["lora"]
        impl = self._built_impl()
        targets = [re.escape(target) for target in lora["targets"]]
        settings = LoRASettings(lora["rank"], lora["alpha"], lora["dropout"], targets)
        inject_lora(impl.model, name, settings)
        load_adapter_state_dict(impl.model, name, payload["state_dict"])
        self._learning_rates[name] = _positive_rate(learning_rate)
        self._decay_steps[name] = decay_steps
        self._start_steps[name] = int(self._algo.grad_step)
        self.set_adapter(name)
        return name

    def disable_lora(self) -> None:
        """Removes every adapter: the plain base model again, all parameters trainable."""
        impl = self._built_impl()
        remove_lora(impl.model)
        self._restore_base_training()

    def merge_adapter(self) -> None:
        """Folds the active adapter into the base weights and removes all adapters.

        The result is a plain DT-Mem (``save``/``save_policy`` export it) whose predictions
        equal those of the unmerged adapter.
        """
        impl = self._built_impl()
        name = self.active_adapter
        if name is None:
            raise AdapterError("no active adapter to merge")
        remove_lora(impl.model, merge=name)
        self._restore_base_training()

    def configure_finetuning(
        self,
        mode: str = "lora",
        rank: int = 4,
        alpha: float = 8.0,
        dropout: float = 0.0,
        learning_rate: float | None = None,
        batch_size: int | None = None,
        memory_balance_weight: float | None = None,
        targets: str | list[str] = "memory",
        decay_steps: int | None = None,
    ) -> None:
        """Selects what ``fit`` trains next: ``"lora"``, ``"full-memory"`` or ``"full"``.

        ``rank``, ``alpha``, ``dropout`` and ``targets`` apply to ``"lora"`` only (see
        :meth:`enable_lora`). The full modes start a
        fresh optimizer (and learning-rate warmup) over every parameter, frozen ones
        receiving no gradient. ``learning_rate``: the new optimizer's peak rate (default:
        :data:`DEFAULT_LORA_LEARNING_RATE` for LoRA, the config's rate otherwise).
        ``decay_steps``: the rate decays to 0 over this many updates (cosine, after the
        config's warmup; give the number of updates ``fit`` will run); ``None`` holds it
        after the warmup. In the full modes the schedule is also written into the config's
        ``optim_factory``, so a saved and reloaded model continues it.
        ``batch_size`` and ``memory_balance_weight``, when given, replace the config's values
        from now on (a fine-tuning set is often one task, where balancing slot usage over
        the batch works against it; they are saved with the model's config).
        """
        if mode not in FINETUNE_MODES:
            raise ValueError(f"unknown fine-tuning mode {mode!r}; choose from {FINETUNE_MODES}")
        if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if memory_balance_weight is not None and not memory_balance_weight >= 0:
            raise ValueError(f"memory_balance_weight must be >= 0, got {memory_balance_weight!r}")
        decay_steps = _checked_decay(decay_steps)
        impl = self._built_impl()
        if mode == "lora":
            self.enable_lora(
                rank=rank,
                alpha=alpha,
                dropout=dropout,
                targets=targets,
                learning_rate=learning_rate,
                decay_steps=decay_steps,
            )
            self._override_training(batch_size, memory_balance_weight)
            return
        if self.lora_adapters:
            raise AdapterError("disable_lora() or merge_adapter() before full fine-tuning")
        model = impl.model
        if model.memory is None and mode == "full-memory":
            raise ValueError("full-memory fine-tuning needs a model with memory (use_memory=True)")
        self._to_train = None
        set_trainable(model, lambda name: mode == "full" or name.startswith("memory."))
        rate = self._algo.config.learning_rate if learning_rate is None else learning_rate
        factory = self._optim_factory(decay_steps)
        optim = factory.create(list(model.named_modules()), lr=_positive_rate(rate), compiled=False)
        self._algo.config.optim_factory = factory  # saved with the model: a reload continues it
        impl.use_optimizer(optim, checkpointed=True)
        self._override_training(batch_size, memory_balance_weight)
        self._log_parameter_counts(f"fine-tuning mode {mode!r}")

    def _override_training(self, batch_size: int | None, balance_weight: float | None) -> None:
        config = self._algo.config
        if batch_size is not None:
            config.batch_size = int(batch_size)
        if balance_weight is not None:
            config.memory_balance_weight = float(balance_weight)
            self._built_impl().memory_balance_weight = float(balance_weight)

    def _restore_base_training(self) -> None:
        self._to_train = None
        impl = self._built_impl()
        set_trainable(impl.model, lambda _: True)
        impl.restore_base_optimizer()

    def _optim_factory(self, decay_steps: int | None) -> Any:
        """The config's optimizer factory with its warmup, then a cosine decay to 0 over
        ``decay_steps`` if given, else a constant rate (also after an earlier decayed run)."""
        factory = self._algo.config.optim_factory
        schedule = with_cosine_decay(factory.lr_scheduler_factory, decay_steps)
        return dataclasses.replace(factory, lr_scheduler_factory=schedule)

    def _base_identity(self) -> dict[str, Any]:
        impl = self._built_impl()
        return {
            "fingerprint": base_fingerprint(impl.model),
            "observation_shape": list(impl.observation_shape),
            "action_size": int(impl.action_size),
            "config": self._algo.config.serialize(),
        }

    def _log_parameter_counts(self, event: str) -> None:
        counts = self.parameter_counts()
        LOG.info(event, trainable_parameters=counts["trainable"], total_parameters=counts["total"])


def _checked_decay(decay_steps: int | None) -> int | None:
    if decay_steps is None:
        return None
    if isinstance(decay_steps, bool) or int(decay_steps) != decay_steps or decay_steps < 1:
        raise ValueError(f"decay_steps must be a positive integer, got {decay_steps!r}")
    return int(decay_steps)


def _positive_rate(learning_rate: float | None) -> float:
    rate = DEFAULT_LORA_LEARNING_RATE if learning_rate is None else float(learning_rate)
    if not rate > 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    return rate
