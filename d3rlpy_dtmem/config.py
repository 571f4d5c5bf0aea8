"""DTMemConfig: the hyperparameters of DT-Mem, registered with d3rlpy."""

import dataclasses
from typing import TYPE_CHECKING

from d3rlpy.algos.transformer.base import TransformerConfig
from d3rlpy.base import DeviceArg, register_learnable
from d3rlpy.constants import PositionEncodingType
from d3rlpy.models import EncoderFactory, make_encoder_field
from d3rlpy.optimizers import GPTAdamWFactory, OptimizerFactory, make_optimizer_field
from d3rlpy.optimizers.lr_schedulers import WarmupSchedulerFactory

from .nn.memory import MEMORY_ADDRESSING

if TYPE_CHECKING:
    from .algo import DTMem

__all__ = ["DTMemConfig", "ACTION_TYPES", "AUTOCAST_DTYPES", "default_optim_factory"]

ACTION_TYPES = ("auto", "discrete", "continuous")
# Mixed precision of training updates: None (float32) or a torch dtype name. float16 is left
# out: it would need a gradient scaler; bfloat16 has float32's range and needs none.
AUTOCAST_DTYPES = (None, "bfloat16")


def default_optim_factory() -> OptimizerFactory:
    """AdamW (weight decay 1e-4 on weight matrices), grad-norm clip 1.0, 1000 warmup steps."""
    return GPTAdamWFactory(
        weight_decay=1e-4,
        clip_grad_norm=1.0,
        lr_scheduler_factory=WarmupSchedulerFactory(warmup_steps=1000),
    )


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
        memory_balance_weight (float): Weight of the slot-usage balance loss
            ``log N - I(step; slot)`` (0 when every step reads one slot and the batch's steps
            spread evenly over the slots; see ``docs/memory.md``); 0 disables it.
        reward_loss_weight (float): λ_r, weight of the reward loss (paper eq. 1).
        return_loss_weight (float): λ_R, weight of the return-to-go loss (paper eq. 1).
        return_range (tuple[int, int]): Inclusive integer range of return classes for
            discrete actions (returns are rounded and clipped to it).
        action_type (str): ``"auto"`` (decided by the dataset), ``"discrete"`` or
            ``"continuous"``.
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
    memory_balance_weight: float = 0.1
    reward_loss_weight: float = 1.0
    return_loss_weight: float = 1.0
    return_range: tuple[int, int] = (-20, 100)
    action_type: str = "auto"
    compile_graph: bool = False
    autocast_dtype: str | None = None

    def __post_init__(self) -> None:
        self.return_range = (int(self.return_range[0]), int(self.return_range[1]))
        checks = {
            "action_type": self.action_type in ACTION_TYPES,
            "context_size": self.context_size > 0,
            "max_timestep": self.max_timestep > 0,
            "memory_slots": self.memory_slots > 0,
            "memory_addressing": self.memory_addressing in MEMORY_ADDRESSING,
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

    def create(self, device: DeviceArg = False, enable_ddp: bool = False) -> "DTMem":
        from .algo import DTMem

        return DTMem(self, device, enable_ddp)

    @staticmethod
    def get_type() -> str:
        return "dt_mem"


register_learnable(DTMemConfig)
