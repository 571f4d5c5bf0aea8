"""Devices named by the user are checked first: a one-line error says what is available."""

import pytest
import torch

from d3rlpy_dtmem.devices import available_devices, resolve_device


def test_cpu_and_auto_resolve():
    assert resolve_device("cpu") == "cpu:0"
    assert resolve_device(" CPU:0 ") == "cpu:0"
    expected = "cuda:0" if torch.cuda.is_available() else "cpu:0"
    assert resolve_device("auto") == expected
    assert available_devices()[0] == "cpu:0"


@pytest.mark.parametrize("bad", ["gpu", "cuda0", "tpu", "", "cpu:x"])
def test_unknown_devices_are_refused(bad):
    with pytest.raises(ValueError, match="is not a torch device; available: cpu:0"):
        resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_says_why():
    with pytest.raises(ValueError, match="device 'cuda:0': .*CUDA.*; available: cpu:0"):
        resolve_device("cuda:0")


def test_a_cuda_index_beyond_the_devices_is_refused():
    with pytest.raises(ValueError, match="'cuda:99'"):
        resolve_device("cuda:99")
