"""DT-Mem as a d3rlpy algorithm: its config (registered with d3rlpy) and the algorithm class.

As in d3rlpy's own algorithms, the config and the algorithm it creates share a module; the
update logic lives in :mod:`d3rlpy_dtmem.impl`, the network in :mod:`d3rlpy_dtmem.nn`.
"""

import dataclasses
import functools
import warnings
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from d3rlpy.algos.transformer.base import TransformerAlgoBase, TransformerConfig
from d3rlpy.base import DeviceArg, register_learnable
from d3rlpy.constants import IMPL_NOT_INITIALIZED_ERROR, ActionSpace, PositionEncodingType
from d3rlpy.dataset import ReplayBufferBase, TrajectoryMiniBatch
from d3rlpy.logging import LOG, FileAdapterFactory
from d3rlpy.models import EncoderFactory, make_encoder_field
from d3rlpy.optimizers import GPTAdamWFactory, OptimizerFactory, make_optimizer_field
from d3rlpy.optimizers.lr_schedulers import WarmupSchedulerFactory
from d3rlpy.torch_utility import wrap_model_by_ddp
from d3rlpy.types import GymEnv, Shape
from gymnasium import spaces

from .checkpoint import write_checkpoint
from .data.pinned import batch_to_device
from .export import GreedyPolicy
from .files import atomic_write
from .finetuning import Adapters
from .impl import DTMemImpl, DTMemModules
from .inference import ExpertReturnMixin
from .logger_adapters import AdapterCheckpointFactory
from .lr_schedules import with_cosine_decay
from .nn import create_dtmem_model
from .nn.memory import MEMORY_ADDRESSING
from .rewards import REWARD_TRANSFORMS

__all__ = [
    "DTMem",
    "DTMemConfig",
    "ACTION_TYPES",
    "AUTOCAST_DTYPES",
    "MEMORY_SCOPES",
    "default_optim_factory",
]

ACTION_TYPES = ("auto", "discrete", "continuous")
MEMORY_SCOPES = ("window", "episode")
# The balance loss's weight in the window scope (docs/memory.md, "Slot collapse").
DEFAULT_MEMORY_BALANCE_WEIGHT = 0.1
# Mixed precision of training updates: None (float32) or a torch dtype name. float16 is left
# out: it would need a gradient scaler; bfloat16 has float32's range and needs none.
AUTOCAST_DTYPES = (None, "bfloat16")


def default_optim_factory(
    warmup_steps: int = 1000, decay_steps: int | None = None
) -> OptimizerFactory:
    """DT-Mem's optimizer: AdamW (weight decay 1e-4 on weight matrices), grad-norm clip 1.0
    and a linear learning-rate warmup of ``warmup_steps`` updates (none with 0), after which
    the rate is held, or, with ``decay_steps``, decays along a cosine to 0 at that update
    (:class:`~d3rlpy_dtmem.lr_schedules.WarmupCosineSchedulerFactory`)."""
    schedule = WarmupSchedulerFactory(warmup_steps=warmup_steps) if warmup_steps > 0 else None
    schedule = with_cosine_decay(schedule, decay_steps)
    if schedule is None:
        return GPTAdamWFactory(weight_decay=1e-4, clip_grad_norm=1.0)
    return GPTAdamWFactory(weight_decay=1e-4, clip_grad_norm=1.0, lr_scheduler_factory=schedule)


def _optim_field() -> OptimizerFactory:
    # d3rlpy's field serialises any registered factory; only the default differs.
    metadata = make_optimizer_field().metadata  # type: ignore[attr-defined]
    return dataclasses.field(metadata=metadata, default_factory=default_optim_factory)


@dataclasses.dataclass()
class DTMemConfig(TransformerConfig):
    """Config of DT-Mem, a Decision Transformer with working memory.

    One config serves discrete and continuous actions: with ``action_type="auto"`` the
    dataset (or env) that first builds the model decides, and the decision is saved with it.

    References:
        * `Kang et al., Think Before You Act: Decision Transformers with Working Memory.
          <https://arxiv.org/abs/2305.16338>`_
        * `Lee et al., Multi-Game Decision Transformers.
          <https://arxiv.org/abs/2205.15241>`_

    Args:
        observation_scaler (d3rlpy.preprocessing.ObservationScaler): Observation
            preprocessor (``PixelObservationScaler`` for uint8 frames).
        action_scaler (d3rlpy.preprocessing.ActionScaler): Action preprocessor
            (continuous actions only).
        reward_scaler (d3rlpy.preprocessing.RewardScaler): Reward preprocessor, also applied
            to returns-to-go (useful for continuous tasks with large returns).
        batch_size (int): Mini-batch size (trajectories per update).
        learning_rate (float): Peak learning rate.
        context_size (int): Steps per window ``K`` (the paper's 28).
        max_timestep (int): Largest timestep embedded; later timesteps are clipped to it.
        encoder_factory (d3rlpy.models.EncoderFactory): State encoder; its output size is
            the model width ``d``.
        optim_factory (d3rlpy.optimizers.OptimizerFactory): Optimizer; by default AdamW
            (weight decay 1e-4), grad-norm clip 1.0 and a 1000-step linear warmup.
        num_heads (int): Attention heads.
        num_layers (int): Transformer blocks.
        attn_dropout (float): Dropout on attention weights.
        resid_dropout (float): Dropout on residual branches.
        embed_dropout (float): Dropout on token embeddings.
        activation_type (str): Activation of the transformer MLPs.
        position_encoding_type (d3rlpy.PositionEncodingType): ``SIMPLE`` or ``GLOBAL``.
        use_memory (bool): ``False`` builds the same trunk without working memory (the
            ablation baseline).
        memory_slots (int): Slots ``N`` of the working memory.
        memory_addressing (str): How steps address the slots: ``"content"`` compares the
            input with the memory as written by earlier steps (the paper's content-based
            address; a sequential loop over the window), ``"slot_keys"`` with the learned
            initial slots (a linear recurrence computed in parallel; faster). See
            ``docs/memory.md``.
        memory_scope (str): How long the memory lives. ``"window"`` (the paper): every
            context window starts from the learned initial memory. ``"episode"``: an episode
            is cut into consecutive windows (segments) of ``context_size`` steps, and each
            starts from the memory the previous one left; training runs through
            ``memory_segments`` segments at a time. Needs ``use_memory`` and the ``SIMPLE``
            position encoding. See ``docs/memory.md``.
        memory_segments (int): Episode scope: segments per training run, the span of
            backpropagation through the carried memory.
        memory_burn_in (int): Episode scope: segments before each training run that only
            carry the memory in (no gradient, no loss); runs that start later in an episode
            than this see the learned initial memory there instead.
        memory_balance_weight (float | None): Weight of the slot-usage balance loss
            ``log N - I(step; slot)`` (0 when every step reads one slot and the batch's steps
            spread evenly over the slots; see ``docs/memory.md``); 0 disables it. ``None``
            (default): 0.1 in the window scope, 0 in the episode scope, where the loss kept
            the memory from carrying a cue (``docs/results.md``, T-maze).
        reward_loss_weight (float): λ_r, weight of the reward loss (paper eq. 1).
        return_loss_weight (float): λ_R, weight of the return-to-go loss (paper eq. 1).
        return_range (tuple[int, int]): Inclusive integer range of return classes for
            discrete actions (returns are rounded and clipped to it).
        action_type (str): ``"auto"`` (decided by the dataset), ``"discrete"`` or
            ``"continuous"``.
        reward_transform (str): How the training data's rewards were made from the
            environment's: ``"none"`` or ``"clip"`` (to [-1, 1], DQN-Replay). Evaluation with
            a fixed target return subtracts the environment's rewards transformed the same
            way, so the target is spent in the units the returns-to-go were trained in.
            ``"auto"``: decided by the dataset that first trains the model (its
            ``reward_transform``, e.g. from ``load_minari``'s metadata; ``"none"`` for
            buffers without one), and saved with it.
        compile_graph (bool): Flag to enable JIT compilation and CUDAGraph (d3rlpy's flag).
            CUDA only: on a CPU device d3rlpy ignores it and the update runs eagerly.
        autocast_dtype (str | None): ``"bfloat16"`` runs the forward pass of training
            updates under ``torch.autocast`` in bfloat16 (CUDA and CPU); parameters,
            optimizer state, losses and the working memory stay float32. ``None``: float32.
    """

    batch_size: int = 64
    learning_rate: float = 1e-4
    context_size: int = 28
    max_timestep: int = 1000
    encoder_factory: EncoderFactory = make_encoder_field()
    optim_factory: OptimizerFactory = _optim_field()
    num_heads: int = 8
    num_layers: int = 4
    attn_dropout: float = 0.1
    resid_dropout: float = 0.1
    embed_dropout: float = 0.1
    activation_type: str = "gelu"
    position_encoding_type: PositionEncodingType = PositionEncodingType.SIMPLE
    use_memory: bool = True
    memory_slots: int = 1290
    memory_addressing: str = "slot_keys"
    memory_scope: str = "window"
    memory_segments: int = 4
    memory_burn_in: int = 0
    memory_balance_weight: float | None = None
    reward_loss_weight: float = 1.0
    return_loss_weight: float = 1.0
    return_range: tuple[int, int] = (-20, 100)
    action_type: str = "auto"
    reward_transform: str = "auto"
    compile_graph: bool = False
    autocast_dtype: str | None = None

    def __post_init__(self) -> None:
        self.return_range = (int(self.return_range[0]), int(self.return_range[1]))
        if self.memory_balance_weight is None:
            episode = self.memory_scope == "episode"
            self.memory_balance_weight = 0.0 if episode else DEFAULT_MEMORY_BALANCE_WEIGHT
        checks = {
            "action_type": self.action_type in ACTION_TYPES,
            "reward_transform": self.reward_transform in ("auto", *REWARD_TRANSFORMS),
            "context_size": self.context_size > 0,
            "max_timestep": self.max_timestep > 0,
            "memory_slots": self.memory_slots > 0,
            "memory_addressing": self.memory_addressing in MEMORY_ADDRESSING,
            "memory_scope": self.memory_scope in MEMORY_SCOPES,
            "memory_segments": self.memory_segments > 0,
            "memory_burn_in": self.memory_burn_in >= 0,
            "memory_balance_weight": self.memory_balance_weight >= 0,
            "num_layers": self.num_layers > 0,
            "num_heads": self.num_heads > 0,
            "return_range": self.return_range[0] < self.return_range[1],
            "reward_loss_weight": self.reward_loss_weight >= 0,
            "return_loss_weight": self.return_loss_weight >= 0,
            "autocast_dtype": self.autocast_dtype in AUTOCAST_DTYPES,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"DTMemConfig: invalid {name}={getattr(self, name)!r}")
        if self.memory_scope == "episode" and not self.use_memory:
            raise ValueError("DTMemConfig: memory_scope='episode' needs use_memory=True")
        if self.memory_scope == "episode" and (
            self.position_encoding_type != PositionEncodingType.SIMPLE
        ):
            raise ValueError(
                "DTMemConfig: memory_scope='episode' needs position_encoding_type=SIMPLE (the "
                "GLOBAL encoding reads a window's last timestep, which a segment being played "
                "does not know yet)"
            )

    @property
    def evaluation_reward_transform(self) -> str:
        """The transform evaluation applies to the environment's rewards (``"auto"`` before
        any training data decided it: ``"none"``)."""
        return "none" if self.reward_transform == "auto" else self.reward_transform

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> "DTMem":
        return DTMem(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "dt_mem"


_ACTION_SPACES = {
    "auto": ActionSpace.BOTH,
    "discrete": ActionSpace.DISCRETE,
    "continuous": ActionSpace.CONTINUOUS,
}


def _forward_to_adapters(name: str) -> Any:
    """``DTMem.<name>``: the :class:`~d3rlpy_dtmem.finetuning.Adapters` method or property
    of the same name, with its docstring."""
    member = getattr(Adapters, name)
    if isinstance(member, property):
        return property(lambda self: getattr(self.adapters, name), doc=member.__doc__)

    @functools.wraps(member)
    def forward(self: "DTMem", *args: Any, **kwargs: Any) -> Any:
        return getattr(self.adapters, name)(*args, **kwargs)

    return forward


class DTMem(ExpertReturnMixin, TransformerAlgoBase[DTMemImpl, DTMemConfig]):
    """Decision Transformer with working memory (see :class:`DTMemConfig`).

    Behaves like any d3rlpy transformer algorithm: ``fit``, ``predict``, ``save`` /
    ``d3rlpy.load_learnable``, ``as_stateful_wrapper``, ``save_policy``; adds LoRA adapters
    and fine-tuning modes, whose methods and properties forward to the :attr:`adapters`
    component (:class:`~d3rlpy_dtmem.finetuning.Adapters`).
    """

    def __init__(self, config: DTMemConfig, device: DeviceArg, enable_ddp: bool):
        # d3rlpy's base asks get_action_type() before it stores the config.
        self._config = config
        super().__init__(config, device, enable_ddp)
        self._adapters = Adapters(self)

    @property
    def adapters(self) -> Adapters:
        """LoRA adapters and fine-tuning modes of this model (paper §4.4)."""
        return self._adapters

    parameter_counts = _forward_to_adapters("parameter_counts")
    enable_lora = _forward_to_adapters("enable_lora")
    set_adapter = _forward_to_adapters("set_adapter")
    prepare_training = _forward_to_adapters("prepare_training")
    save_adapter = _forward_to_adapters("save_adapter")
    load_adapter = _forward_to_adapters("load_adapter")
    resume_adapter = _forward_to_adapters("resume_adapter")
    disable_lora = _forward_to_adapters("disable_lora")
    merge_adapter = _forward_to_adapters("merge_adapter")
    configure_finetuning = _forward_to_adapters("configure_finetuning")
    lora_adapters = _forward_to_adapters("lora_adapters")
    active_adapter = _forward_to_adapters("active_adapter")
    adapter_steps = _forward_to_adapters("adapter_steps")
    adapter_decay_steps = _forward_to_adapters("adapter_decay_steps")

    def _built_impl(self) -> DTMemImpl:
        assert self._impl is not None, IMPL_NOT_INITIALIZED_ERROR
        return self._impl

    def get_action_type(self) -> ActionSpace:
        return _ACTION_SPACES[self._config.action_type]

    def fit(self, dataset: ReplayBufferBase, n_steps: int, **kwargs: Any) -> None:  # type: ignore[override]
        self._resolve_action_type(dataset.dataset_info.action_space == ActionSpace.DISCRETE)
        self._resolve_reward_transform(dataset)
        self._check_dataset_fits(dataset)
        if self._config.memory_scope == "episode":
            from .data.episode_runs import EpisodeRuns  # the data machinery, when needed

            config = self._config
            dataset = EpisodeRuns(dataset, config.memory_segments, config.memory_burn_in)  # type: ignore[assignment]
        if self._impl is not None:
            self.prepare_training()
        if self._impl is not None and self.active_adapter is not None:
            # the base does not change: checkpoint the adapter instead (logger_adapters.py)
            inner = kwargs.get("logger_adapter") or FileAdapterFactory()
            kwargs["logger_adapter"] = AdapterCheckpointFactory(inner)
        super().fit(dataset, n_steps, **kwargs)  # type: ignore[arg-type]

    fit.__doc__ = (
        (TransformerAlgoBase.fit.__doc__ or "")
        + """
        DT-Mem: while a LoRA adapter is active, each epoch's checkpoint is the adapter with
        its training state (``adapter_<step>.pt``, see :meth:`resume_adapter`), not a copy of
        the unchanged base (``model_<step>.d3``). With ``memory_scope="episode"`` the
        batches are runs of ``memory_burn_in + memory_segments`` segments of
        ``context_size`` steps (:class:`~d3rlpy_dtmem.data.EpisodeRuns`), from any d3rlpy
        replay buffer.
        """
    )

    def update(self, batch: TrajectoryMiniBatch) -> dict[str, float]:
        """Updates the parameters with a mini-batch (d3rlpy's ``update``).

        On a CUDA device the batch is copied with ``non_blocking=True``, asynchronous when
        its arrays are pinned (``load_minari(..., prefetch=n, pin_memory=True)``). Batches of
        uint8 frames (``load_minari``'s default) are used as they are when the observation
        scaler turns them into floats on the device, and made float32 here otherwise.
        """
        impl = self._built_impl()
        self.prepare_training()
        batch = self._float_unless_scaled(batch)
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

    def _float_unless_scaled(self, batch: TrajectoryMiniBatch) -> TrajectoryMiniBatch:
        """d3rlpy's float32 observations where no observation scaler converts uint8 ones."""
        observations = batch.observations
        if self._config.observation_scaler is not None or not (
            isinstance(observations, np.ndarray) and observations.dtype == np.uint8
        ):
            return batch
        fields = {f.name: getattr(batch, f.name) for f in dataclasses.fields(TrajectoryMiniBatch)}
        fields["observations"] = observations.astype(np.float32)
        return TrajectoryMiniBatch(**fields)

    def build_with_dataset(self, dataset: ReplayBufferBase) -> None:
        self._resolve_action_type(dataset.dataset_info.action_space == ActionSpace.DISCRETE)
        self._resolve_reward_transform(dataset)
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

    def _resolve_reward_transform(self, dataset: ReplayBufferBase) -> None:
        """Fixes ``reward_transform`` from the data (``"auto"``), or checks that a dataset
        that declares one agrees with the model's."""
        declared = getattr(dataset, "reward_transform", None)
        current = self._config.reward_transform
        if current == "auto":
            transform = declared or "none"
            self._config = dataclasses.replace(self._config, reward_transform=transform)
        elif declared is not None and declared != current:
            raise ValueError(
                f"DTMem: the data's rewards are reward_transform={declared!r} but the model "
                f"was trained on {current!r} rewards (its returns-to-go are in those units)"
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

        ``d3rlpy.load_learnable`` reads it once ``d3rlpy_dtmem`` is imported (the import
        registers DT-Mem with d3rlpy; without it d3rlpy raises ``KeyError: 'dt_mem'``);
        :func:`d3rlpy_dtmem.checkpoint.load_checkpoint` also restores ``grad_step`` to
        resume training. ``fit`` writes its per-epoch
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
        Window scope only (``memory_scope="episode"`` is refused).

        Args:
            fname: destination path ending in ``.pt``.
        """
        if self._config.memory_scope == "episode":
            raise ValueError(
                f"DTMem.save_policy: {fname!r}: a memory_scope='episode' model carries its "
                "memory from window to window, which one traced window cannot; play it with "
                "as_stateful_wrapper()"
            )
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
                "d3rlpy_dtmem.app.distributed.init_distributed() (or d3rlpy.distributed."
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
            segment_length=config.context_size if config.memory_scope == "episode" else None,
            trained_segments=config.memory_segments,
            compiled=self.compiled,
            device=self._device,
            autocast_dtype=config.autocast_dtype,
        )


register_learnable(DTMemConfig)
