"""The DT-Mem network: tokens -> causal trunk -> working memory -> heads.

Shape legend: B batch, K steps, T = 3K tokens, d width, A action size.
"""

import dataclasses

import torch
from d3rlpy.constants import PositionEncodingType
from d3rlpy.models import EncoderFactory
from d3rlpy.models.torch import GlobalPositionEncoding, PositionEncoding, SimplePositionEncoding
from d3rlpy.models.torch.encoders import compute_output_size
from d3rlpy.types import Shape
from torch import nn

from ..targets import NUM_REWARD_CLASSES, num_return_bins
from .heads import MLPHead
from .memory import MemoryRead, WorkingMemory
from .tokens import (
    MEMORY_ADDRESS_TOKEN,
    MEMORY_WRITE_TOKEN,
    PREDICTED_FROM,
    TOKEN_ORDER,
    TOKENS_PER_STEP,
    BinnedReturnEmbedding,
    ContinuousActionEmbedding,
    DiscreteActionEmbedding,
    ScalarReturnEmbedding,
    token_position,
)
from .trunk import Trunk

__all__ = ["DTMemOutput", "DTMemModel", "create_dtmem_model"]


@dataclasses.dataclass(frozen=True)
class DTMemOutput:
    """Per-step predictions, each (B, K, ·).

    Discrete actions: ``action`` (B, K, A) logits, ``reward`` (B, K, 3) logits over
    {negative, zero, positive}, ``return_to_go`` (B, K, bins) logits over clipped integer returns.
    Continuous actions: ``action`` (B, K, A) in [-1, 1], ``reward`` and ``return_to_go``
    (B, K, 1) in symlog units (:func:`d3rlpy_dtmem.targets.symexp` inverts them).
    ``memory_address``: the memory's read address of every step over its slots (B, K, N),
    ``None`` without memory. ``memory``: the working memory after the last step (B, N, d),
    when the forward pass was asked to carry it.
    """

    action: torch.Tensor
    reward: torch.Tensor
    return_to_go: torch.Tensor
    memory_address: torch.Tensor | None = None
    memory: torch.Tensor | None = None


class DTMemModel(nn.Module):
    """Decision Transformer with a working memory between the trunk and the heads.

    ``memory=None`` gives the same network without memory (the ablation baseline).
    """

    def __init__(
        self,
        encoder: nn.Module,
        position_encoding: PositionEncoding,
        action_embedding: nn.Module,
        return_embedding: nn.Module,
        trunk: Trunk,
        memory: WorkingMemory | None,
        heads: dict[str, MLPHead],
        max_timestep: int,
    ):
        super().__init__()
        self.encoder = encoder
        self.position_encoding = position_encoding
        self.action_embedding = action_embedding
        self.return_embedding = return_embedding
        self.trunk = trunk
        self.memory = memory
        self.heads = nn.ModuleDict(heads)
        self.max_timestep = max_timestep

    def embed(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        returns_to_go: torch.Tensor,
        timesteps: torch.Tensor,
    ) -> torch.Tensor:
        """Interleaves the tokens of every step in ``TOKEN_ORDER``: -> (B, T, d)."""
        batch, steps = returns_to_go.shape[:2]
        # d3rlpy does not clip timesteps; longer episodes reuse the last embedding.
        position = self.position_encoding(timesteps.clamp(0, self.max_timestep))  # (B, K, d)
        # (B, K, *obs) -> (B*K, *obs) -> (B, K, d)
        states = self.encoder(observations.reshape(batch * steps, *observations.shape[2:]))
        by_name = {
            "state": states.view(batch, steps, -1),
            "return": self.return_embedding(returns_to_go),
            "action": self.action_embedding(actions),
        }
        # (B, K, 3, d) + (B, K, 1, d) -> (B, K, 3, d)
        tokens = torch.stack([by_name[name] for name in TOKEN_ORDER], dim=2)
        tokens = tokens + position.unsqueeze(2)
        # (B, K, 3, d) -> (B, T, d)
        return tokens.reshape(batch, steps * TOKENS_PER_STEP, -1)

    def forward(
        self,
        observations: torch.Tensor,
        actions: torch.Tensor,
        returns_to_go: torch.Tensor,
        timesteps: torch.Tensor,
        valid: torch.Tensor,
        memory: torch.Tensor | None = None,
        segment_length: int | None = None,
        carry: bool = False,
    ) -> DTMemOutput:
        """Predicts action, reward and return-to-go at every step.

        By default the input is one window: the trunk attends over all of it and the memory
        starts from ``M_0``. With ``segment_length`` K the input is a run of consecutive
        windows (segments) of one episode each: the trunk attends within each segment, the
        memory runs through all of them, so a segment starts from the memory the previous
        one left (the episode scope, ``docs/memory.md``).

        Args:
            observations: (B, L, *observation_shape), already scaled.
            actions: (B, L, 1) indices (discrete) or (B, L, A) (continuous).
            returns_to_go: (B, L, 1).
            timesteps: (B, L) integer timesteps.
            valid: (B, L), 1 for real steps, 0 for padding.
            memory: the memory before the first step (B, N, d); ``None``: ``M_0``.
            segment_length: K, with L a multiple of K; ``None``: one window of L steps.
            carry: also return the memory after the last step (``DTMemOutput.memory``).

        Returns:
            :class:`DTMemOutput`.
        """
        assert isinstance(observations, torch.Tensor), "tuple observations are not supported"
        batch, steps = returns_to_go.shape[:2]
        assert valid.shape == (batch, steps), f"valid must be (B, K), got {tuple(valid.shape)}"
        segment = steps if segment_length is None else segment_length
        assert steps % segment == 0, f"{steps} steps are not whole segments of {segment}"
        valid = valid.bool()
        # (B, L, ...) -> (B * S, K, ...): segments are embedded and attend on their own
        rows = batch * (steps // segment)
        inputs = (observations, actions, returns_to_go, timesteps, valid)
        observations, actions, returns_to_go, timesteps, segment_valid = (
            x.reshape(rows, segment, *x.shape[2:]) for x in inputs
        )
        tokens = self.embed(observations, actions, returns_to_go, timesteps)
        # (B * S, K) -> (B * S, T): every token of a step shares its validity.
        hidden = self.trunk(tokens, segment_valid.repeat_interleave(TOKENS_PER_STEP, dim=1))
        # (B * S, T, d) -> (B, L, 3, d)
        hidden = hidden.reshape(batch, steps, TOKENS_PER_STEP, -1)
        address = carried = None
        if self.memory is not None:
            read = self._read_memory(hidden, valid, memory, segment, carry)
            hidden = hidden + read.output.unsqueeze(2)  # (B, L, 1, d): one read per step
            address, carried = read.address, read.memory
        predictions = {
            target: self.heads[target](hidden[:, :, token_position(source)])
            for target, source in PREDICTED_FROM.items()
        }
        return DTMemOutput(**predictions, memory_address=address, memory=carried)

    def _read_memory(
        self,
        hidden: torch.Tensor,
        valid: torch.Tensor,
        memory: torch.Tensor | None,
        segment: int,
        carry: bool,
    ) -> MemoryRead:
        """The memory's reads of every step of (B, L, 3, d) ``hidden``, from ``memory``.

        Slot keys run the whole input at once (their gates do not depend on the memory).
        Content addressing runs segment by segment, carrying the memory, so that its step
        loop costs O(K) per step rather than O(L).
        """
        assert self.memory is not None
        address_input = hidden[:, :, token_position(MEMORY_ADDRESS_TOKEN)]
        write_input = hidden[:, :, token_position(MEMORY_WRITE_TOKEN)]
        steps = valid.shape[1]
        if self.memory.addressing != "content" or segment == steps:
            return self.memory(address_input, write_input, valid, initial=memory, carry=carry)
        reads = []
        for start in range(0, steps, segment):
            part = slice(start, start + segment)
            last = start + segment == steps
            reads.append(
                self.memory(
                    address_input[:, part],
                    write_input[:, part],
                    valid[:, part],
                    initial=memory,
                    carry=carry or not last,
                )
            )
            memory = reads[-1].memory
        output, address, write = (
            torch.cat([getattr(read, name) for read in reads], dim=1)
            for name in ("output", "address", "write")
        )
        return MemoryRead(output, address, write, memory if carry else None)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)


def create_dtmem_model(
    observation_shape: Shape,
    action_size: int,
    discrete: bool,
    encoder_factory: EncoderFactory,
    context_size: int,
    max_timestep: int,
    num_heads: int,
    num_layers: int,
    attn_dropout: float,
    resid_dropout: float,
    embed_dropout: float,
    activation_type: str,
    position_encoding_type: PositionEncodingType,
    use_memory: bool,
    memory_slots: int,
    memory_addressing: str,
    return_range: tuple[int, int],
) -> DTMemModel:
    """Builds a :class:`DTMemModel`; the width ``d`` is the encoder's output size."""
    encoder = encoder_factory.create(observation_shape)
    width = compute_output_size([observation_shape], encoder)
    if position_encoding_type == PositionEncodingType.SIMPLE:
        position: PositionEncoding = SimplePositionEncoding(width, max_timestep + 1)
    elif position_encoding_type == PositionEncodingType.GLOBAL:
        position = GlobalPositionEncoding(width, max_timestep + 1, context_size)
    else:
        raise ValueError(f"unknown position_encoding_type: {position_encoding_type}")
    if discrete:
        action_embedding: nn.Module = DiscreteActionEmbedding(action_size, width)
        return_embedding: nn.Module = BinnedReturnEmbedding(return_range, width)
        head_sizes = {
            "action": action_size,
            "reward": NUM_REWARD_CLASSES,
            "return_to_go": num_return_bins(return_range),
        }
    else:
        action_embedding = ContinuousActionEmbedding(action_size, width)
        return_embedding = ScalarReturnEmbedding(width)
        head_sizes = {"action": action_size, "reward": 1, "return_to_go": 1}
    heads = {
        name: MLPHead(width, size, squash=(name == "action" and not discrete))
        for name, size in head_sizes.items()
    }
    trunk = Trunk(
        width, num_heads, num_layers, activation_type, attn_dropout, resid_dropout, embed_dropout
    )
    memory = WorkingMemory(width, memory_slots, memory_addressing) if use_memory else None
    for module in (position, action_embedding, return_embedding, trunk, *heads.values()):
        module.apply(_init_weights)
    if memory is not None:
        for layer in memory.children():
            _init_weights(layer)
    return DTMemModel(
        encoder,
        position,
        action_embedding,
        return_embedding,
        trunk,
        memory,
        heads,
        max_timestep,
    )
