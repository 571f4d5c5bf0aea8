"""DTMemImpl: the loss of paper eq. 1, the update and the prediction."""

import dataclasses
from collections.abc import Callable
from typing import BinaryIO

import torch
import torch.nn.functional as F
from d3rlpy.algos.transformer.base import TransformerAlgoImplBase
from d3rlpy.algos.transformer.inputs import TorchTransformerInput
from d3rlpy.optimizers import OptimizerWrapper
from d3rlpy.torch_utility import (
    CudaGraphWrapper,
    Modules,
    TorchTrajectoryMiniBatch,
    map_location,
    unwrap_ddp_model,
    wrap_model_by_ddp,
)
from d3rlpy.types import Shape
from torch.nn.parallel import DistributedDataParallel

from .adapters import base_state_dict, load_base_state_dict
from .nn import DTMemModel, DTMemOutput
from .nn.usage import address_entropy, balance_loss, slots_used
from .targets import return_to_bin, reward_to_class, symlog

__all__ = ["DTMemModules", "DTMemImpl", "masked_mean"]


@dataclasses.dataclass(frozen=True)
class DTMemModules(Modules):
    model: DTMemModel
    optim: OptimizerWrapper


def masked_mean(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of (B, K) ``values`` over steps where ``valid`` is 1; 0 if there are none."""
    return (values * valid).sum() / valid.sum().clamp_min(1.0)


class DTMemImpl(TransformerAlgoImplBase):
    """Update and prediction of DT-Mem.

    ``L = L_action + λ_r L_reward + λ_R L_return`` (paper eq. 1), every term averaged over
    the real (unpadded) steps of the batch. Discrete: cross-entropy on actions, reward
    signs and clipped integer returns. Continuous: MSE on actions, and on rewards and
    returns in symlog units. With memory, ``λ_b L_balance`` (the slot-usage balance loss,
    :func:`~d3rlpy_dtmem.nn.usage.balance_loss`) is added when its weight is positive, and
    the update reports ``memory_address_entropy`` and ``memory_slots_used``.

    Episode scope (``segment_length`` K): a batch of L = n K steps holds runs of n segments;
    the last ``min(n, trained_segments)`` are trained, with the memory carried through them,
    and any before them only carry the memory in, without gradient or loss (burn-in).
    """

    _modules: DTMemModules
    _compute_grad: Callable[[TorchTrajectoryMiniBatch], dict[str, torch.Tensor]]

    def __init__(
        self,
        observation_shape: Shape,
        action_size: int,
        modules: DTMemModules,
        discrete: bool,
        return_range: tuple[int, int],
        reward_loss_weight: float,
        return_loss_weight: float,
        memory_balance_weight: float,
        compiled: bool,
        device: str,
        autocast_dtype: str | None = None,
        segment_length: int | None = None,
        trained_segments: int = 1,
    ):
        super().__init__(observation_shape, action_size, modules, device)
        self._autocast_dtype = None if autocast_dtype is None else getattr(torch, autocast_dtype)
        self._discrete = discrete
        self._return_range = return_range
        self._reward_loss_weight = reward_loss_weight
        self._return_loss_weight = return_loss_weight
        self._memory_balance_weight = memory_balance_weight
        self._segment_length = segment_length
        self._trained_segments = trained_segments
        self._compiled = compiled
        self._compute_grad = self._build_compute_grad()
        # The optimizer saved with the model: the one over every parameter. LoRA training
        # uses an optimizer of its own and leaves this one (and the base weights) untouched.
        self._base_optim = modules.optim

    @property
    def discrete(self) -> bool:
        return self._discrete

    @property
    def memory_balance_weight(self) -> float:
        """λ_b, the weight of the slot-usage balance loss in the training loss."""
        return self._memory_balance_weight

    @memory_balance_weight.setter
    def memory_balance_weight(self, weight: float) -> None:
        self._memory_balance_weight = float(weight)

    @property
    def segment_length(self) -> int | None:
        """K of the episode scope's segments; ``None`` in the window scope."""
        return self._segment_length

    @property
    def model(self) -> DTMemModel:
        """The network, unwrapped from DDP."""
        return unwrap_ddp_model(self._modules.model)

    def use_optimizer(self, optim: OptimizerWrapper, checkpointed: bool) -> None:
        """Trains with ``optim`` from now on; ``checkpointed``: it covers every parameter
        and is the one saved with the model."""
        self._modules = dataclasses.replace(self._modules, optim=optim)
        if checkpointed:
            self._base_optim = optim
        self._trainable_parameters_changed()

    def restore_base_optimizer(self) -> None:
        self._modules = dataclasses.replace(self._modules, optim=self._base_optim)
        self._trainable_parameters_changed()

    def _build_compute_grad(self) -> Callable[[TorchTrajectoryMiniBatch], dict[str, torch.Tensor]]:
        # a CUDA graph records the parameters that had gradients when it was captured
        return CudaGraphWrapper(self.compute_grad) if self._compiled else self.compute_grad

    def _trainable_parameters_changed(self) -> None:
        """New DDP wrapper and, with ``compile_graph``, a new graph of ``compute_grad``."""
        self._rewrap_ddp()
        self._compute_grad = self._build_compute_grad()

    def _rewrap_ddp(self) -> None:
        """Wraps the network in a new DDP over the parameters that train now.

        DDP registers the parameters that require grad when it is built: LoRA layers added
        later would never have their gradients averaged (ranks drift apart silently), and
        parameters frozen later would leave its all-reduce waiting. A new wrapper also
        broadcasts rank 0's weights, so adapters initialised at random start equal on every
        rank. Like building DDP, this is collective: every rank must call it at the same point.
        """
        if not isinstance(self._modules.model, DistributedDataParallel):
            return
        self._modules = dataclasses.replace(self._modules, model=wrap_model_by_ddp(self.model))
        # the old checkpointer would keep the old wrapper (and its gradient hooks) alive
        self._checkpointer = self._modules.create_checkpointer(self._device)

    def save_model(self, f: BinaryIO) -> None:
        """Saves the base network (LoRA adapters stripped) and the base optimizer state.

        The format is d3rlpy's (``{"model": ..., "optim": ...}``), so ``load_learnable``
        reads it; adapters are saved with ``DTMem.save_adapter``.
        """
        torch.save(
            {"model": base_state_dict(self.model), "optim": self._base_optim.state_dict()}, f
        )

    def load_model(self, f: BinaryIO) -> None:
        checkpoint = torch.load(f, map_location=map_location(self._device))
        load_base_state_dict(self.model, checkpoint["model"])
        self._base_optim.load_state_dict(checkpoint["optim"])

    def forward(
        self,
        batch: "TorchTrajectoryMiniBatch | TorchTransformerInput | _Steps",
        ddp: bool = True,
        memory: torch.Tensor | None = None,
        carry: bool = False,
    ) -> DTMemOutput:
        """Runs the network; ``ddp=False`` bypasses the DDP wrapper (no collective call, so
        one rank alone can predict). In the episode scope a batch of several segments runs
        them in order, starting from ``memory`` (``None``: the initial memory)."""
        model = self._modules.model if ddp else self.model
        segments = None
        if self._segment_length is not None and batch.masks.shape[1] > self._segment_length:
            segments = self._segment_length
        return model(
            batch.observations,
            batch.actions,
            batch.returns_to_go,
            batch.timesteps,
            batch.masks,
            memory=memory,
            segment_length=segments,
            carry=carry,
        )

    def inner_predict(self, inpt: TorchTransformerInput) -> torch.Tensor:
        # (1, K, A) -> (A,): logits (discrete) or the action (continuous) of the last step.
        return self.forward(inpt, ddp=False).action[0, -1]

    def compute_loss(self, batch: TorchTrajectoryMiniBatch) -> dict[str, torch.Tensor]:
        batch, memory = self._burn_in(batch)
        output = self._training_forward(batch, memory)
        valid = batch.masks  # (B, K), 1 for real steps
        if self._discrete:
            losses = {
                "action_loss": _cross_entropy(output.action, batch.actions.squeeze(-1).long()),
                "reward_loss": _cross_entropy(
                    output.reward, reward_to_class(batch.rewards[..., 0])
                ),
                "return_loss": _cross_entropy(
                    output.return_to_go,
                    return_to_bin(batch.returns_to_go[..., 0], self._return_range),
                ),
            }
        else:
            losses = {
                "action_loss": ((output.action - batch.actions) ** 2).mean(dim=-1),
                "reward_loss": ((output.reward - symlog(batch.rewards)) ** 2)[..., 0],
                "return_loss": ((output.return_to_go - symlog(batch.returns_to_go)) ** 2)[..., 0],
            }
        losses = {name: masked_mean(value, valid) for name, value in losses.items()}
        losses["loss"] = (
            losses["action_loss"]
            + self._reward_loss_weight * losses["reward_loss"]
            + self._return_loss_weight * losses["return_loss"]
        )
        if output.memory_address is not None:
            address = output.memory_address
            if self._memory_balance_weight > 0:
                losses["memory_balance_loss"] = balance_loss(address, valid)
                losses["loss"] = (
                    losses["loss"] + self._memory_balance_weight * losses["memory_balance_loss"]
                )
            detached = address.detach()
            losses["memory_address_entropy"] = address_entropy(detached, valid)
            losses["memory_slots_used"] = torch.tensor(float(slots_used(detached, valid)))
        return losses

    def _burn_in(
        self, batch: TorchTrajectoryMiniBatch
    ) -> tuple["TorchTrajectoryMiniBatch | _Steps", torch.Tensor | None]:
        """Episode scope: runs the burn-in segments of a batch without gradient; returns the
        trained steps and the memory they start from (the batch and ``None`` otherwise)."""
        length = batch.masks.shape[1]
        if self._segment_length is None:
            return batch, None
        if length % self._segment_length:
            raise ValueError(
                f"DTMem: a batch of {length} steps is not whole segments of context_size "
                f"{self._segment_length} (memory_scope='episode')"
            )
        burn_in = max(0, length // self._segment_length - self._trained_segments)
        if burn_in == 0:
            return batch, None
        split = burn_in * self._segment_length
        with torch.no_grad():
            memory = self.forward(_Steps.cut(batch, 0, split), ddp=False, carry=True).memory
        return _Steps.cut(batch, split, length), memory

    def _training_forward(
        self, batch: "TorchTrajectoryMiniBatch | _Steps", memory: torch.Tensor | None = None
    ) -> DTMemOutput:
        """The forward pass of an update, under autocast if configured; float32 outputs."""
        if self._autocast_dtype is None:
            return self.forward(batch, memory=memory)
        device_type = torch.device(self._device).type
        with torch.autocast(device_type, dtype=self._autocast_dtype):
            output = self.forward(batch, memory=memory)
        # the losses (and their reductions) in float32
        return DTMemOutput(
            output.action.float(),
            output.reward.float(),
            output.return_to_go.float(),
            output.memory_address,
        )

    def compute_grad(self, batch: TorchTrajectoryMiniBatch) -> dict[str, torch.Tensor]:
        self._modules.optim.zero_grad()
        losses = self.compute_loss(batch)
        losses["loss"].backward()
        return losses

    def inner_update(self, batch: TorchTrajectoryMiniBatch, grad_step: int) -> dict[str, float]:
        losses = self._compute_grad(batch)
        # The learning rate used by this step (the scheduler advances inside ``step``).
        learning_rate = self._modules.optim.optim.param_groups[0]["lr"]
        self._modules.optim.step()
        metrics = {name: float(value.detach().cpu()) for name, value in losses.items()}
        metrics["learning_rate"] = float(learning_rate)
        return metrics


@dataclasses.dataclass(frozen=True)
class _Steps:
    """The fields of a trajectory batch that the network and the loss read, (B, L, ...)."""

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    returns_to_go: torch.Tensor
    timesteps: torch.Tensor
    masks: torch.Tensor

    @classmethod
    def cut(cls, batch: "TorchTrajectoryMiniBatch | _Steps", start: int, stop: int) -> "_Steps":
        """Steps ``start:stop`` of every row of ``batch``."""
        fields = (field.name for field in dataclasses.fields(cls))
        return cls(*(getattr(batch, name)[:, start:stop] for name in fields))


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, K, C) logits and (B, K) classes -> (B, K) per-step cross-entropy."""
    # (B, K, C) -> (B, C, K), the layout F.cross_entropy expects for sequences
    return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
