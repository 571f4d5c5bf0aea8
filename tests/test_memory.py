"""The working memory: fast forms == the step-by-step definition, causality, padding,
distinct slots, both addressing forms."""

import math

import pytest
import torch

from d3rlpy_dtmem.nn import MEMORY_ADDRESSING, WorkingMemory, recurrent_read
from d3rlpy_dtmem.nn import memory as memory_module
from d3rlpy_dtmem.nn.memory import MAX_LOG_ERASE


def sharp_memory(addressing, width=16, slots=32, sharpness=1.0):
    memory = WorkingMemory(width, slots, addressing)
    with torch.no_grad():
        memory.log_sharpness.add_(math.log(sharpness))
        memory.write_key.weight.mul_(-1.0)
    return memory


def inputs(batch, steps, width, requires_grad=False):
    address = torch.randn(batch, steps, width, requires_grad=requires_grad)
    write = torch.randn(batch, steps, width, requires_grad=requires_grad)
    return address, write, torch.ones(batch, steps, dtype=torch.bool)


def assert_reads_close(fast, reference, tolerance=1e-4):
    for name in ("output", "address", "write"):
        torch.testing.assert_close(
            getattr(fast, name), getattr(reference, name), atol=tolerance, rtol=tolerance
        )


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
@pytest.mark.parametrize("steps", [5, 28, 70])  # one block, one full block, several blocks
@pytest.mark.parametrize("sharpness", [1.0, 10.0, 100.0])
def test_fast_form_equals_step_recurrence(addressing, steps, sharpness):
    """Checked in float64, where the forms agree to rounding. (In float32 a sharp content
    address amplifies rounding differences from step to step, as any content-addressed
    recurrence does; test_float32_forms_stay_close checks float32 at unit sharpness.)"""
    memory = sharp_memory(addressing, sharpness=sharpness)
    address, write, valid = inputs(3, steps, 16)
    valid[0, : steps // 3] = False
    assert torch.isfinite(memory(address, write, valid).output).all()
    memory.double()
    address, write = address.double(), write.double()
    with torch.autocast("cpu", enabled=False):
        reference, _ = recurrent_read(memory, address, write, valid)
    assert_reads_close(memory(address, write, valid), reference, 1e-9)


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
def test_float32_forms_stay_close(addressing):
    memory = WorkingMemory(16, 32, addressing)
    address, write, valid = inputs(3, 28, 16)
    fast = memory(address, write, valid)
    assert_reads_close(fast, recurrent_read(memory, address, write, valid)[0], 1e-3)


def test_content_addressing_follows_the_memory_and_slot_keys_do_not():
    torch.manual_seed(0)
    content = WorkingMemory(16, 24, "content")
    slot_keys = WorkingMemory(16, 24, "slot_keys")
    slot_keys.load_state_dict(content.state_dict())
    address, write, valid = inputs(2, 12, 16)
    by_content, by_keys = content(address, write, valid), slot_keys(address, write, valid)
    # the first step sees the initial memory in both forms
    torch.testing.assert_close(by_content.address[:, 0], by_keys.address[:, 0])
    assert (by_content.address[:, 5:] - by_keys.address[:, 5:]).abs().max() > 1e-3
    # slot keys: a step's address depends on its own input only, not on earlier writes
    perturbed = write.clone()
    perturbed[:, 2] += 3.0 * torch.randn(2, 16)
    torch.testing.assert_close(slot_keys(address, perturbed, valid).address, by_keys.address)
    moved = content(address, perturbed, valid).address
    torch.testing.assert_close(moved[:, :3], by_content.address[:, :3])
    assert (moved[:, 3:] - by_content.address[:, 3:]).abs().max() > 1e-4


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
def test_erase_clamp_is_reached_and_gradients_stay_finite(addressing):
    memory = sharp_memory(addressing, sharpness=300.0)
    address, write, valid = inputs(2, 70, 16, requires_grad=True)
    read = memory(address, write, valid)
    assert (read.address.amax(-1) > 0.99).float().mean() > 0.5, "the address is sharp"
    read.output.square().sum().backward()
    assert torch.isfinite(address.grad).all() and torch.isfinite(write.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in memory.parameters())


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
def test_read_of_a_step_ignores_its_own_and_later_writes(addressing):
    memory = WorkingMemory(8, 12, addressing)
    address, write, valid = inputs(2, 40, 8)
    base = memory(address, write, valid).output
    for changed in (0, 7, 39):
        perturbed = write.clone()
        perturbed[:, changed] += torch.randn(2, 8)
        out = memory(address, perturbed, valid).output
        torch.testing.assert_close(out[:, : changed + 1], base[:, : changed + 1], atol=1e-6, rtol=0)
        if changed + 1 < 40:
            assert (out[:, changed + 1 :] - base[:, changed + 1 :]).abs().amax(-1).min() > 0


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
def test_read_depends_on_its_own_address_and_earlier_ones_only(addressing):
    memory = WorkingMemory(8, 12, addressing)
    address, write, valid = inputs(2, 10, 8)
    base = memory(address, write, valid).output
    perturbed = address.clone()
    perturbed[:, 4] += torch.randn(2, 8)
    out = memory(perturbed, write, valid).output
    torch.testing.assert_close(out[:, :4], base[:, :4], atol=1e-6, rtol=0)
    assert (out[:, 4] - base[:, 4]).abs().max() > 0


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
def test_padded_steps_do_not_write(addressing):
    memory = WorkingMemory(8, 12, addressing)
    address, write, valid = inputs(1, 9, 8)
    valid[0, :4] = False
    read, memories = recurrent_read(memory, address, write, valid)
    initial = memory.memory_init.expand(1, -1, -1)
    for step in range(4):
        torch.testing.assert_close(memories[:, step], initial)
    assert not torch.allclose(memories[:, 4], initial)
    assert (read.write[0, :4] == 0).all() and (read.write[0, 4:] > 0).all()


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
def test_slots_are_distinct_and_learn_differently(addressing):
    memory = WorkingMemory(8, 12, addressing)
    slots = memory.memory_init.detach()
    distances = torch.cdist(slots, slots) + torch.eye(12) * 1e9
    assert distances.min() > 0.01, "initial slots must differ"
    memory(*inputs(4, 15, 8)).output.sum().backward()
    grad = memory.memory_init.grad
    assert grad.abs().sum(dim=1).min() > 0, "every slot receives a gradient"
    assert not torch.allclose(grad[0], grad[1]), "two slots receive different gradients"


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
def test_every_parameter_gets_a_gradient(addressing):
    memory = WorkingMemory(8, 12, addressing)
    memory(*inputs(2, 6, 8)).output.square().sum().backward()
    for name, parameter in memory.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_address_is_not_uniform_at_initialisation_at_paper_size():
    """Random cosines times sqrt(d) are unit logits: slots start distinguishable."""
    torch.manual_seed(0)
    memory = WorkingMemory(512, 1290)
    address, write, valid = inputs(2, 4, 512)
    read = memory(torch.nn.functional.layer_norm(address, (512,)), write, valid)
    assert read.address.amax(-1).mean() > 5.0 / 1290


def test_read_is_normalised_before_it_joins_the_residual_stream():
    """A read concentrated on one slot is no larger than a spread one."""
    memory = WorkingMemory(32, 64)
    address, write, valid = inputs(2, 8, 32)
    spread = memory(address, write, valid).output
    with torch.no_grad():
        memory.log_sharpness.fill_(math.log(1000.0))
    sharp = memory(address, write, valid)
    assert sharp.address.amax(-1).min() > 0.9
    ratio = sharp.output.norm(dim=-1).mean() / spread.norm(dim=-1).mean()
    assert 0.5 < ratio < 2.0


def test_unknown_addressing_is_refused():
    with pytest.raises(ValueError, match="addressing"):
        WorkingMemory(8, 4, "location")


def test_block_bound_fits_float32_with_headroom():
    bound = memory_module._BLOCK * MAX_LOG_ERASE
    assert math.log(torch.finfo(torch.float32).max) - bound > 20


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
@pytest.mark.parametrize("split", [1, 13, 28, 40])
def test_carried_memory_continues_the_sequence(addressing, split):
    """Two windows, the second starting from the memory the first left, read what one long
    window reads (the episode scope's carry), and the carried memory is the reference's."""
    memory = sharp_memory(addressing, sharpness=10.0).double()
    address, write, valid = (x.double() if x.is_floating_point() else x for x in inputs(3, 45, 16))
    valid[1, 20:] = False  # an episode that ends inside the second window
    whole = memory(address, write, valid, carry=True)
    first = memory(address[:, :split], write[:, :split], valid[:, :split], carry=True)
    second = memory(
        address[:, split:], write[:, split:], valid[:, split:], initial=first.memory, carry=True
    )
    torch.testing.assert_close(torch.cat([first.output, second.output], 1), whole.output)
    torch.testing.assert_close(second.memory, whole.memory)
    with torch.autocast("cpu", enabled=False):
        reference, memories = recurrent_read(memory, address, write, valid)
    torch.testing.assert_close(whole.memory, memories[:, -1])
    torch.testing.assert_close(reference.memory, memories[:, -1])
    # padded steps leave the carried memory as it was
    torch.testing.assert_close(memories[1, -1], memories[1, 19])


@pytest.mark.parametrize("addressing", MEMORY_ADDRESSING)
def test_memory_is_only_returned_when_asked(addressing):
    memory = WorkingMemory(8, 12, addressing)
    read = memory(*inputs(2, 5, 8))
    assert read.memory is None
    carried = memory(*inputs(2, 5, 8), carry=True).memory
    assert carried.shape == (2, 12, 8)
    assert torch.allclose(memory.initial_memory(2), memory.memory_init.expand(2, -1, -1))
