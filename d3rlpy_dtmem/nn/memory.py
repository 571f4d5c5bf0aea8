"""Working memory of DT-Mem (paper §4.2, steps 0-4), step-recurrent and causal.

Shape legend: B batch, K steps, N memory slots, d width.

The memory is read and written once per step. At step t the trunk has produced, among
others, the output of the step's first token (the state token, ``X_t``: it has seen
s_<=t, R̂_<t, a_<t) and of its last token (the action token, ``Y_t``: it has seen a_t).
The memory is read *before* step t writes, so nothing of a_t or later reaches step t's
predictions; then ``Y_t`` is written.

Step 0, initial memory (a learned ``nn.Parameter``, slots distinct from initialisation)::

    M_0 in R^{N x d}

Step 2, content-based address. The paper's logits ``(M W_q)(X_t W_k)^T`` are folded onto
the input side, ``M (X_t W_k W_q^T)^T``, so no N x d x d product is formed
(``W_k``/``W_q`` are ``address_key``/``address_query``, ``W_q`` being the matrix that
multiplies the memory). Slots are compared with the folded query by cosine similarity,
sharpened by a learned ``tau`` (initially sqrt(d))::

    q_t = X_t W_k W_q^T
    w_t = softmax_N( tau * cos(C_t[n], q_t) )                          in R^N

``C_t`` are the slots the address looks at, chosen by ``memory_addressing``:

* ``"content"`` (the paper): the memory as written by steps < t, ``C_t = M_{t-1}``;
* ``"slot_keys"`` (fast): the learned initial slots, ``C_t = M_0`` for every t.

Step 3, write strength, erase and add, from the action-token output ``Y_t``
(``Ŵ_k``/``Ŵ_q``/``Ŵ_v`` are ``write_key``/``write_query``/``value``)::

    beta_t = sigmoid( tau_w * cos(C_t[n], Y_t Ŵ_k Ŵ_q^T) )            in (0, 1)^N
    eps_e,t = min(w_t * (1 - beta_t), 1 - e^-MAX_LOG_ERASE)            erase, per slot
    eps_a,t = (w_t * beta_t) (Y_t Ŵ_v)^T                               add, in R^{N x d}
    M_t = M_{t-1} * (1 - eps_e,t) + eps_a,t

Step 4, read with the address from the memory as written by steps < t, layer-normalised,
projected (``W_o`` is ``out``) and added to every token of step t::

    r_t = w_t^T M_{t-1}                                                in R^d
    o = h + LayerNorm(r_t) W_o                                         for each token h of step t

Departures from the paper's text, and why:

* The paper writes the whole window and then reads: a_t and later tokens would reach the
  prediction of a_t. Here step t reads the memory of steps < t.
* Cosine similarity with a learned sharpness instead of a dot product scaled by 1/sqrt(d),
  and a normalised read. With raw dot products the address and the read grow with the
  norm of whichever slot wins: training concentrated every step on one slot, whose
  unnormalised read (4-5x the trunk output) dominated the heads (see docs/memory.md).
* ``beta`` is a sigmoid per slot rather than the paper's softmax: a softmax across the
  window would normalise over future steps, and one across 1290 slots makes every write
  strength vanish.
* Padded steps neither erase nor add (their write address is zeroed).

With ``"slot_keys"`` every gate is known before the window is read, the update is a linear
recurrence with a scalar gate per slot, and all reads are a few matrix products
(gated linear attention, :func:`_parallel_read`). With ``"content"`` the gates of step t
depend on ``M_{t-1}``: :func:`_content_read` runs the steps in order, but holds the memory
as ``M_{t-1} = diag(P_{t-1}) M_0 + U_{t-1} V`` (P the product of the decays, U a (B, N, t)
matrix of decayed write weights, V the values), so a step costs O(B N t), not O(B N d).
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MEMORY_ADDRESSING",
    "MAX_LOG_ERASE",
    "MemoryRead",
    "WorkingMemory",
    "recurrent_read",
]

MEMORY_ADDRESSING = ("content", "slot_keys")
# Largest erase of one write, as -log(1 - erase); see the module docstring.
MAX_LOG_ERASE = 2.25
_MAX_ERASE = 1.0 - math.exp(-MAX_LOG_ERASE)
# Steps per block of the parallel read: exp(BLOCK * MAX_LOG_ERASE) must fit float32 (e^88)
# with room to spare for gradients (e^63 here). One block covers the paper's K = 28.
_BLOCK = 28
# Norms below this count as this in the cosine (a slot erased to ~0 reads as ~orthogonal).
_EPS = 1e-3


class MemoryRead(NamedTuple):
    """What the memory gives the network for one window."""

    output: torch.Tensor  # LayerNorm(r) W_o, added to the step's tokens, (B, K, d)
    address: torch.Tensor  # read/write address w, (B, K, N)
    write: torch.Tensor  # write weight w * beta, zero on padded steps, (B, K, N)
    memory: torch.Tensor | None = None  # M_K after the last write, (B, N, d), if asked for


class _Queries(NamedTuple):
    """The input side of one window, known before any step is read."""

    address: torch.Tensor  # q = X W_k W_q^T, (B, K, d)
    write: torch.Tensor  # q̂ = Y Ŵ_k Ŵ_q^T, (B, K, d)
    values: torch.Tensor  # v = Y Ŵ_v, (B, K, d)


class WorkingMemory(nn.Module):
    """Working-memory matrix between the transformer trunk and the prediction heads.

    Args:
        width: token width ``d``.
        memory_slots: number of slots ``N``.
        addressing: ``"content"`` or ``"slot_keys"`` (see the module docstring).

    The six ``nn.Linear`` layers (``address_query``, ``address_key``, ``write_query``,
    ``write_key``, ``value``, ``out``) are the targets of LoRA adapters.
    """

    def __init__(self, width: int, memory_slots: int, addressing: str = "slot_keys"):
        super().__init__()
        if addressing not in MEMORY_ADDRESSING:
            raise ValueError(f"unknown memory addressing {addressing!r}: {MEMORY_ADDRESSING}")
        self.width = width
        self.memory_slots = memory_slots
        self.addressing = addressing
        # Step 0: distinct learned slots, at the scale of a written value Y Ŵ_v at
        # initialisation (Y is layer-normed, Ŵ_v ~ N(0, 0.02^2)).
        self.memory_init = nn.Parameter(torch.randn(memory_slots, width) * 0.02 * width**0.5)
        self.address_query = nn.Linear(width, width, bias=False)
        self.address_key = nn.Linear(width, width, bias=False)
        self.write_query = nn.Linear(width, width, bias=False)
        self.write_key = nn.Linear(width, width, bias=False)
        self.value = nn.Linear(width, width, bias=False)
        # tau and tau_w as logarithms; sqrt(d) makes random cosines (std 1/sqrt(d)) unit logits
        self.log_sharpness = nn.Parameter(torch.full((2,), 0.5 * math.log(width)))
        self.read_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, width)

    def queries(self, address_input: torch.Tensor, write_input: torch.Tensor) -> _Queries:
        """Projections of the inputs; ``W_q`` is folded onto the input side."""
        return _Queries(
            self.address_query(self.address_key(address_input)),
            self.write_query(self.write_key(write_input)),
            self.value(write_input),
        )

    def gates(
        self,
        address_similarity: torch.Tensor,
        write_similarity: torch.Tensor,
        valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Steps 2-3 from cosine similarities (…, N): address ``w``, erase, write ``w*beta``.

        ``valid`` (…) is False on padded steps, which neither erase nor add.
        """
        sharpness = self.log_sharpness.exp()
        address = F.softmax(sharpness[0] * address_similarity, dim=-1)
        strength = torch.sigmoid(sharpness[1] * write_similarity)
        write_address = address * valid.unsqueeze(-1).to(address.dtype)
        # clamped here, before any log, so that gradients stay finite
        erase = (write_address * (1.0 - strength)).clamp_max(_MAX_ERASE)
        return address, erase, write_address * strength

    def initial_memory(self, batch: int) -> torch.Tensor:
        """``M_0`` for ``batch`` sequences, (B, N, d) (a view of the parameter)."""
        return self.memory_init.expand(batch, -1, -1)

    def forward(
        self,
        address_input: torch.Tensor,
        write_input: torch.Tensor,
        valid: torch.Tensor,
        initial: torch.Tensor | None = None,
        carry: bool = False,
    ) -> MemoryRead:
        """Reads for every step, before its write (see :class:`MemoryRead`).

        Always computed in float32, also inside ``torch.autocast``.

        Args:
            address_input: ``X``, the outputs that address (and read), (B, K, d).
            write_input: ``Y``, the outputs that are written, (B, K, d).
            valid: (B, K) bool, False for padded steps.
            initial: the memory before the first step, (B, N, d); ``None``: ``M_0``. The
                episode scope passes the memory a previous window left.
            carry: also return the memory after the last step (``MemoryRead.memory``).
        """
        assert address_input.dim() == 3 and address_input.shape[-1] == self.width, (
            f"expected (B, K, {self.width}), got {tuple(address_input.shape)}"
        )
        assert write_input.shape == address_input.shape, "address and write inputs differ"
        assert valid.shape == address_input.shape[:2], "valid must be (B, K)"
        # The parallel read multiplies e^{L} factors of up to e^63: bfloat16 or float16
        # would lose them, so under autocast the memory runs in float32.
        with torch.autocast(address_input.device.type, enabled=False):
            dtype = self.memory_init.dtype  # float32 unless the module was cast
            queries = self.queries(address_input.to(dtype), write_input.to(dtype))
            start = self.memory_init if initial is None else initial.to(dtype)
            if self.addressing == "content":
                reads, address, write, final = _content_read(self, queries, valid, start)
            else:
                slots = F.normalize(self.memory_init, dim=-1, eps=_EPS)
                address, erase, write = self.gates(
                    F.normalize(queries.address, dim=-1, eps=_EPS) @ slots.T,
                    F.normalize(queries.write, dim=-1, eps=_EPS) @ slots.T,
                    valid,
                )
                log_decay = torch.log1p(-erase)
                reads = _parallel_read(address, log_decay, write, queries.values, start)
                final = _final_memory(log_decay, write, queries.values, start) if carry else None
            output = self.out(self.read_norm(reads))
            return MemoryRead(output, address, write, final if carry else None)


def _final_memory(
    log_decay: torch.Tensor, write: torch.Tensor, values: torch.Tensor, initial: torch.Tensor
) -> torch.Tensor:
    """The memory after the last step with fixed gates (``"slot_keys"``):
    ``M_K = diag(e^{L_K}) M_0 + sum_j (w_j beta_j e^{L_K - L_j}) v_j``, (B, N, d).

    ``L_K - L_j <= 0``: every factor is at most 1, whatever the length.
    """
    cumulative = torch.cumsum(log_decay, dim=1)  # L_t, (B, K, N)
    last = cumulative[:, -1]  # L_K, (B, N)
    kept_writes = write * (last.unsqueeze(1) - cumulative).exp()  # (B, K, N)
    # (B, N, 1) * (N, d) or (B, N, d), plus (B, N, K) @ (B, K, d)
    return last.exp().unsqueeze(-1) * initial + kept_writes.transpose(1, 2) @ values


def _content_read(
    memory: WorkingMemory, queries: _Queries, valid: torch.Tensor, initial: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reads ``r_t = w_t^T M_{t-1}`` with addresses of the current contents, step by step.

    The memory is never formed: ``M_{t-1}[n] = P[n] M_0[n] + sum_{j<t} U[n, j] v_j``, with
    ``P`` the product of the decays of slot n so far and ``U[n, j]`` the write weight of
    step j decayed since. Every dot product of a slot with a query is then
    ``P (M_0 q) + U (V q)``, where ``M_0 q`` and ``V q`` are computed for the whole window
    before the loop; the squared slot norms (for the cosine) are carried along.

    ``initial`` is ``M_0`` (N, d) or the memory carried into the window (B, N, d).

    Returns:
        ``(reads (B, K, d), address (B, K, N), write (B, K, N), memory after the last
        step (B, N, d))``.
    """
    batch, steps, _ = queries.address.shape
    initial_t = initial.transpose(-1, -2)  # (d, N) or (B, d, N)
    # (B, K, d) @ (d, N) -> (B, K, N): dot products with the initial slots
    initial_dots = torch.stack(
        [queries.address @ initial_t, queries.write @ initial_t, queries.values @ initial_t], -1
    )  # (B, K, N, 3)
    # (B, K, d) @ (B, d, K) -> (B, K, K): [t, j] = query of step t . value of step j
    values_t = queries.values.transpose(1, 2)
    value_dots = torch.stack(
        [queries.address @ values_t, queries.write @ values_t, queries.values @ values_t], -1
    )  # (B, K, K, 3)
    query_norms = torch.stack(
        [queries.address.norm(dim=-1), queries.write.norm(dim=-1)], -1
    ).clamp_min(_EPS)  # (B, K, 2)
    square_norms = initial.square().sum(-1).expand(batch, -1)  # ||M_{t-1}[n]||^2, (B, N)
    decay = torch.ones_like(square_norms)  # P, (B, N)
    slots = initial.shape[-2]
    decayed_writes = initial.new_zeros(batch, slots, 0)  # U, (B, N, 0)
    coefficients, addresses, writes = [], [], []
    for step in range(steps):
        # (B, N, t) @ (B, t, 3) -> (B, N, 3): slot . (q_t, q̂_t, v_t)
        dots = (
            decay.unsqueeze(-1) * initial_dots[:, step]
            + decayed_writes @ value_dots[:, step, :step]
        )
        slot_norms = square_norms.clamp_min(_EPS**2).sqrt()
        similarity = dots[..., :2] / (slot_norms.unsqueeze(-1) * query_norms[:, step, None])
        address, erase, write = memory.gates(similarity[..., 0], similarity[..., 1], valid[:, step])
        # read before the write: (B, 1, N) @ (B, N, t) -> (B, t), and w * P for M_0's part
        coefficients.append(
            torch.cat([address * decay, (address.unsqueeze(1) @ decayed_writes).squeeze(1)], -1)
        )
        kept = 1.0 - erase
        # ||g m + a v||^2 = g^2 ||m||^2 + 2 g a (m . v) + a^2 ||v||^2
        square_norms = (
            kept.square() * square_norms
            + 2.0 * kept * write * dots[..., 2]
            + write.square() * value_dots[:, step, step, 2].unsqueeze(-1)
        )
        decay = decay * kept
        decayed_writes = torch.cat(
            [decayed_writes * kept.unsqueeze(-1), write.unsqueeze(-1)], dim=-1
        )
        addresses.append(address)
        writes.append(write)
    # (B, K, N + k) -> reads: the M_0 part and the part written by earlier steps
    on_initial = torch.stack([c[:, :slots] for c in coefficients], 1)  # (B, K, N)
    on_values = torch.stack(
        [F.pad(c[:, slots:], (0, steps - (c.shape[1] - slots))) for c in coefficients], 1
    )  # (B, K, K), zero for j >= t
    reads = on_initial @ initial + on_values @ queries.values
    final = decay.unsqueeze(-1) * initial + decayed_writes @ queries.values  # (B, N, d)
    return reads, torch.stack(addresses, 1), torch.stack(writes, 1), final


def _parallel_read(
    address: torch.Tensor,
    log_decay: torch.Tensor,
    write: torch.Tensor,
    values: torch.Tensor,
    initial: torch.Tensor,
) -> torch.Tensor:
    """All reads ``r_t = w_t^T M_{t-1}`` of a window with fixed gates (``"slot_keys"``).

    Gated linear attention: with ``L_t = sum_{k<=t} log g_k`` the cumulative log-decay,

        r_t = (w_t * e^{L_{t-1}})^T M_0 + sum_{j<t} [sum_n w_t[n] e^{L_{t-1}[n] - L_j[n]}
              w_j[n] beta_j[n]] v_j

    Steps are grouped in blocks of ``_BLOCK`` (C); ``c_b`` is the cumulative log-decay
    just before block ``b``. For a read at step t in block b and a write j < t in block
    b' <= b::

        e^{L_{t-1} - L_j} = e^{L_{t-1} - c_b} * e^{c_b - c_b'} * e^{c_b' - L_j}

    The first two factors are <= 1; the last is bounded by ``e^{C * MAX_LOG_ERASE}`` by the
    clamp on one erase. The first scales the queries and the last the keys (each computed
    once); the middle one, a (B, N) factor per pair of blocks, rescales the keys for each
    query block. No (B, K, K, N) tensor is formed.

    Args:
        address, log_decay, write: (B, K, N).
        values: (B, K, d).
        initial: the memory before the first step, ``M_0`` (N, d) or carried (B, N, d).

    Returns:
        reads, (B, K, d).
    """
    batch, steps, slots = address.shape
    pad = -steps % _BLOCK
    if pad:  # steps appended at the end neither decay nor write, and are cut off below
        address, log_decay, write, values = (
            F.pad(x, (0, 0, 0, pad)) for x in (address, log_decay, write, values)
        )
    padded = steps + pad
    blocks = padded // _BLOCK
    cumulative = torch.cumsum(log_decay, dim=1)  # L_t, (B, K', N), non-increasing in t
    before = cumulative - log_decay  # L_{t-1}: the memory a read sees
    reads = (address * before.exp()) @ initial  # (B, K', N) @ (N, d) or (B, N, d)
    # (B, K', N) -> (B, nb, C, N)
    shape = (batch, blocks, _BLOCK, slots)
    cumulative_blocks = cumulative.view(shape)
    # c_b, the L just before each block: (B, nb, 1, N)
    reference = F.pad(cumulative_blocks[:, :-1, -1:], (0, 0, 0, 0, 1, 0))
    queries = address.view(shape) * (before.view(shape) - reference).exp()
    keys = write.view(shape) * (reference - cumulative_blocks).exp()
    # strictly causal: the read of step t sees the writes of steps j < t
    causal = torch.ones(padded, padded, dtype=torch.bool, device=address.device).tril(-1)
    if blocks == 1:
        scores = queries[:, 0] @ keys[:, 0].transpose(1, 2)  # (B, K', K')
        return (reads + scores.masked_fill(~causal, 0.0) @ values)[:, :steps]
    block_index = torch.arange(blocks, device=address.device).view(1, blocks, 1, 1)
    outputs = []
    for block, query_block in enumerate(queries.unbind(dim=1)):
        # e^{c_b - c_b'} for earlier blocks b', 0 for later ones (clamped to stay finite)
        between = (reference[:, block : block + 1] - reference).clamp_max(0.0).exp()
        block_keys = (keys * (between * (block_index <= block))).view(batch, padded, slots)
        scores = query_block @ block_keys.transpose(1, 2)  # (B, C, N) @ (B, N, K') -> (B, C, K')
        rows = causal[block * _BLOCK : (block + 1) * _BLOCK]
        outputs.append(scores.masked_fill(~rows, 0.0) @ values)  # (B, C, d)
    return (reads + torch.cat(outputs, dim=1))[:, :steps]


def recurrent_read(
    memory: WorkingMemory,
    address_input: torch.Tensor,
    write_input: torch.Tensor,
    valid: torch.Tensor,
    initial: torch.Tensor | None = None,
) -> tuple[MemoryRead, torch.Tensor]:
    """Reference form: the equations of the module docstring, one step at a time.

    Slow (a Python loop holding the whole (B, N, d) memory); it defines what both fast
    forms compute, and shows the memory itself.

    Returns:
        ``(read, memories)``: the :class:`MemoryRead` of ``memory(..., initial)`` and the
        memory after each step's write, (B, K, N, d).
    """
    queries = memory.queries(address_input, write_input)
    batch = address_input.shape[0]
    state = memory.initial_memory(batch) if initial is None else initial  # (B, N, d)
    reads, addresses, writes, memories = [], [], [], []
    for step in range(address_input.shape[1]):
        slots = state if memory.addressing == "content" else memory.memory_init.expand_as(state)
        slots = F.normalize(slots, dim=-1, eps=_EPS)
        # (B, N, d) @ (B, d, 1) -> (B, N)
        address_query = F.normalize(queries.address[:, step], dim=-1, eps=_EPS)
        write_query = F.normalize(queries.write[:, step], dim=-1, eps=_EPS)
        address, erase, write = memory.gates(
            (slots @ address_query.unsqueeze(-1)).squeeze(-1),
            (slots @ write_query.unsqueeze(-1)).squeeze(-1),
            valid[:, step],
        )
        reads.append((address.unsqueeze(1) @ state).squeeze(1))  # read, then write
        # (B, N, 1) * (B, 1, d) -> (B, N, d)
        added = write.unsqueeze(-1) * queries.values[:, step].unsqueeze(1)
        state = state * (1.0 - erase).unsqueeze(-1) + added
        addresses.append(address)
        writes.append(write)
        memories.append(state)
    output = memory.out(memory.read_norm(torch.stack(reads, dim=1)))
    read = MemoryRead(output, torch.stack(addresses, 1), torch.stack(writes, 1), state)
    return read, torch.stack(memories, dim=1)
