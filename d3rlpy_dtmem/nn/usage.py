"""How a batch uses the memory's slots: health metrics and the usage-balance loss.

Shape legend: B batch, K steps, N slots. ``address`` is the read address ``w`` of every
step (B, K, N); ``valid`` (B, K) is 1 for real steps, 0 for padding.
"""

import math

import torch

__all__ = ["address_entropy", "slots_used", "balance_loss", "SLOT_USE_SHARE"]

# A slot counts as used when it is the top address of at least this share of real steps.
SLOT_USE_SHARE = 0.01


def _real_steps(address: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, K, N) -> (S, N): the addresses of the real steps."""
    return address[valid.bool()]


def address_entropy(address: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the address over the slots, over real steps; 0 if none.

    ``log N`` is a uniform address, 0 a single slot.
    """
    steps = _real_steps(address, valid)
    if steps.shape[0] == 0:
        return address.new_zeros(())
    entropy = -(steps * steps.clamp_min(1e-12).log()).sum(-1)
    return entropy.mean()


def slots_used(address: torch.Tensor, valid: torch.Tensor) -> int:
    """Distinct slots that are the top address of at least 1% of the real steps."""
    steps = _real_steps(address, valid)
    if steps.shape[0] == 0:
        return 0
    counts = torch.bincount(steps.argmax(-1), minlength=address.shape[-1])
    return int((counts >= SLOT_USE_SHARE * steps.shape[0]).sum())


def balance_loss(address: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``log N - I(step; slot) = log N - H(mean address) + mean H(address)``.

    0 when every step reads one slot and the batch's steps spread evenly over all slots;
    ``log N`` when every step reads the same slots. The first term alone would be met by
    addresses that are all uniform (no slot read more than another): the second keeps each
    step's address sharp, so steps must differ in *which* slots they read.
    """
    steps = _real_steps(address, valid)
    if steps.shape[0] == 0:
        return address.new_zeros(())
    usage = steps.mean(0)  # (N,)
    usage_entropy = -(usage * usage.clamp_min(1e-12).log()).sum()
    return math.log(address.shape[-1]) - usage_entropy + address_entropy(address, valid)
