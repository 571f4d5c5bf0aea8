"""DTMem: the d3rlpy algorithm class (builds modules; d3rlpy's base does the rest)."""

import dataclasses
import warnings
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from d3rlpy.algos.transformer.base import TransformerAlgoBase
from d3rlpy.base import DeviceArg
from d3rlpy.constants import IMPL_NOT_INITIALIZED_ERROR, ActionSpace
from d3rlpy.dataset import ReplayBufferBase, TrajectoryMiniBatch
from d3rlpy.logging import LOG
from d3rlpy.torch_utility import wrap_model_by_ddp
from d3rlpy.types import GymEnv, Shape
from gymnasium import spaces

from .checkpoint import write_checkpoint
from .config import DTMemConfig
from .data.pinned import batch_to_device
from .evaluation.mixin import ExpertReturnMixin
from .files import atomic_write
from .finetuning import AdapterMixin
from .impl import DTMemImpl, DTMemModules
from .nn import create_dtmem_model
from .policy import GreedyPolicy

__all__ = ["DTMem"]

_ACTION_SPACES = {
    "auto": ActionSpace.BOTH,
    "discrete": ActionSpace.DISCRETE,
    "continuous": ActionSpace.CONTINUOUS,
}


class DTMem(AdapterMixin, ExpertReturnMixin, TransformerAlgoBase[DTMemImpl, DTMemConfig]):
    """Decision Transformer with working memory (see :class:`DTMemConfig`).

    Behaves like any d3rlpy transformer algorithm: ``fit``, ``predict``, ``save`` /
    ``d3rlpy.load_learnable``, ``as_stateful_wrapper``, ``save_policy``; adds LoRA adapters
    and fine-tuning modes (:class:`~d3rlpy_dtmem.finetuning.AdapterMixin`).
    """

    def __init__(self, config: DTMemConfig, device: DeviceArg, enable_ddp: bool):
        # d3rlpy's base asks get_action_type() before it stores the config.
        self._config = config
        super().__init__(config, device, enable_ddp)

    def get_action_type(self) -> ActionSpace:
        return _ACTION_SPACES[self._config.action_type]

    def fit(self, dataset: ReplayBufferBase, n_steps: int, **kwargs: Any) -> None:  # type: ignore[override]
        self._resolve_action_type(dataset.dataset_info.action_space == ActionSpace.DISCRETE)
        self._check_dataset_fits(dataset)
        super().fit(dataset, n_steps, **kwargs)  # type: ignore[arg-type]

    fit.__doc__ = TransformerAlgoBase.fit.__doc__

    def update(self, batch: TrajectoryMiniBatch) -> dict[str, float]:
        """Updates the parameters with a mini-batch (d3rlpy's ``update``).

        On a CUDA device the batch is copied with ``non_blocking=True``, asynchronous when
        its arrays are pinned (``load_minari(..., prefetch=n, pin_memory=True)``).
        """
        impl = self._built_impl()
        if "cuda" not in str(self._device) or not isinstance(batch.observations, np.ndarray):
            return super().update(batch)
        config = self._config
        torch_batch = batch_to_device(
            batch,
            self._device,
            config.observation_scaler,
            config.action_scaler,
            config.reward_scaler,
        )
        loss = impl.update(torch_batch, self._grad_step)
        self._grad_step += 1
        return loss

    def build_with_dataset(self, dataset: ReplayBufferBase) -> None:
        self._resolve_action_type(dataset.dataset_info.action_space == ActionSpace.DISCRETE)
        super().build_with_dataset(dataset)  # type: ignore[arg-type]

    def build_with_env(self, env: GymEnv) -> None:
        self._resolve_action_type(isinstance(env.action_space, spaces.Discrete))
        super().build_with_env(env)

    def _check_dataset_fits(self, dataset: ReplayBufferBase) -> None:
        """Refuses data that an already-built model cannot train on (d3rlpy would only warn
        that it skips building, then fail deep inside torch or train on wrong indices)."""
        if self._impl is None:
            return
        shape = tuple(dataset.sample_transition().observation_signature.shape[0])
        size = dataset.dataset_info.action_size
        kind = self._config.action_type
        if shape != tuple(self._impl.observation_shape) or size != self._impl.action_size:
            raise ValueError(
                f"DTMem.fit: the dataset has observations {shape} and {size} {kind} actions, "
                f"the model was built for observations {tuple(self._impl.observation_shape)} "
                f"and {self._impl.action_size} {kind} actions"
            )

    def _resolve_action_type(self, discrete: bool) -> None:
        """Fixes ``action_type`` from the data (``"auto"``) or checks that it agrees."""
        wanted = "discrete" if discrete else "continuous"
        current = self._config.action_type
        if current == "auto":
            if discrete and self._config.action_scaler is not None:
                raise ValueError("DTMem: action_scaler cannot be used with discrete actions")
            self._config = dataclasses.replace(self._config, action_type=wanted)
        elif current != wanted:
            raise ValueError(
                f"DTMem: the data has {wanted} actions but the model was built for {current}"
            )

    def save(self, fname: str) -> None:
        """Saves the model as a ``.d3`` file, atomically (d3rlpy's format plus ``grad_step``).

        ``d3rlpy.load_learnable`` reads it; :func:`d3rlpy_dtmem.checkpoint.load_checkpoint`
        also restores ``grad_step`` to resume training. ``fit`` writes its per-epoch
        ``model_N.d3`` files through this method. A failure mid-write leaves the previous
        file (or none), never a truncated one.

        Args:
            fname: destination file path.
        """
        write_checkpoint(self, fname)

    def save_model(self, fname: str) -> None:
        """Saves the network and optimizer state (d3rlpy's ``save_model``), atomically.

        Args:
            fname: destination file path.
        """
        with atomic_write(fname) as f:
            self._built_impl().save_model(f)

    def save_policy(self, fname: str) -> None:
        """Saves the greedy policy as TorchScript (``.pt``), usable without d3rlpy.

        The traced function takes one full window of ``context_size`` steps, without batch
        dimension: ``observations (K, *obs)``, ``actions (K, A)`` (``(K, 1)`` indices for
        discrete actions), ``returns_to_go (K, 1)``, ``timesteps (K,)``, and returns the
        action of the last step (an index for discrete actions). Every step counts as real:
        the caller fills the window. The action at the last step is ignored (causality).

        Args:
            fname: destination path ending in ``.pt``.
        """
        if not fname.endswith(".pt"):
            raise ValueError(
                f"DTMem.save_policy: {fname!r}: only TorchScript '.pt' files are supported "
                "(ONNX export of d3rlpy transformers fails with torch 2.13)"
            )
        impl = self._impl
        assert impl is not None, IMPL_NOT_INITIALIZED_ERROR
        context = self._config.context_size
        policy = GreedyPolicy(
            impl.model,
            impl.discrete,
            self._config.observation_scaler,
            self._config.action_scaler,
        )
        example = (
            torch.rand(context, *impl.observation_shape, device=self._device),
            torch.zeros(context, 1 if impl.discrete else impl.action_size, device=self._device),
            torch.zeros(context, 1, device=self._device),
            torch.arange(context, device=self._device),
        )
        impl.modules.set_eval()
        with torch.no_grad(), warnings.catch_warnings():
            # shape asserts become constants of the trace: expected, the window is fixed
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            traced = torch.jit.trace(policy, example, check_trace=False)
        with atomic_write(fname) as f:
            torch.jit.save(traced, f)

    def inner_create_impl(self, observation_shape: Shape, action_size: int) -> None:
        if self._config.action_type == "auto":
            raise ValueError(
                "DTMem: action_type is 'auto'; build with fit/build_with_dataset/"
                "build_with_env, or set DTMemConfig(action_type='discrete'|'continuous')"
            )
        if self._enable_ddp and not dist.is_initialized():
            raise RuntimeError(
                "DTMem: enable_ddp=True needs a process group; launch with torchrun and call "
                "d3rlpy_dtmem.distributed.init_distributed() (or d3rlpy.distributed."
                "init_process_group) before building the model"
            )
        config = self._config
        discrete = config.action_type == "discrete"
        model = create_dtmem_model(
            observation_shape=observation_shape,
            action_size=action_size,
            discrete=discrete,
            encoder_factory=config.encoder_factory,
            context_size=config.context_size,
            max_timestep=config.max_timestep,
            num_heads=config.num_heads,
            num_layers=config.num_layers,
            attn_dropout=config.attn_dropout,
            resid_dropout=config.resid_dropout,
            embed_dropout=config.embed_dropout,
            activation_type=config.activation_type,
            position_encoding_type=config.position_encoding_type,
            use_memory=config.use_memory,
            memory_slots=config.memory_slots,
            memory_addressing=config.memory_addressing,
            return_range=config.return_range,
        ).to(self._device)
        if self._enable_ddp:
            model = wrap_model_by_ddp(model)
        optim = config.optim_factory.create(
            model.named_modules(), lr=config.learning_rate, compiled=self.compiled
        )
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        LOG.info("DTMem built", trainable_parameters=trainable, total_parameters=total)
        self._impl = DTMemImpl(
            observation_shape=observation_shape,
            action_size=action_size,
            modules=DTMemModules(model=model, optim=optim),
            discrete=discrete,
            return_range=config.return_range,
            reward_loss_weight=config.reward_loss_weight,
            return_loss_weight=config.return_loss_weight,
            memory_balance_weight=config.memory_balance_weight,
            compiled=self.compiled,
            device=self._device,
            autocast_dtype=config.autocast_dtype,
        )
