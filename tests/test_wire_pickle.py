"""Judge -> kernel: a tensor a test passes to a student function arrives as torch's own pickling
would deliver it; only the way its storage's bytes travel differs (wire._Pickler).

The oracle is plain ``pickle.dumps``/``pickle.loads`` with torch's reductions: for every kind of
tensor a test might pass (dtypes, views, strides, gradients, parameters, modules, shared storage),
the two received objects must agree in type, dtype, shape, strides, offset, storage bytes,
``requires_grad``, which received tensors share memory, and the received values.
"""
from __future__ import annotations

import pickle
import socket
import warnings

import pytest
import torch

from autograder.engine import wire


def sent(obj):
    """Through the real write_pickle/read_pickle pair, on a socket."""
    a, b = socket.socketpair()
    try:
        wire.write_pickle(a, obj)
        return wire.read_pickle(b)
    finally:
        a.close()
        b.close()


def described(obj, pointers: dict):
    """Everything observable about a received value, storage addresses replaced by first-seen order."""
    if isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage()
        raw = torch.empty(0, dtype=torch.uint8).set_(storage).clone()
        return (type(obj).__name__, obj.dtype, tuple(obj.shape), obj.stride(), obj.storage_offset(),
                obj.requires_grad, obj.is_leaf, obj.device.type, bytes(raw.numpy()),
                pointers.setdefault(storage.data_ptr(), len(pointers)))
    if isinstance(obj, torch.nn.Module):
        return (type(obj).__name__, obj.training,
                [(name, described(value, pointers)) for name, value in obj.state_dict(keep_vars=True).items()])
    if isinstance(obj, dict):
        return {key: described(value, pointers) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)([described(value, pointers) for value in obj])
    return obj


def _shared():
    base = torch.arange(12.0)
    return {"base": base, "view": base[3:9].view(2, 3), "again": base}


CASES = {
    "float": lambda: torch.randn(4, 3),
    "double": lambda: torch.randn(2, dtype=torch.float64),
    "half": lambda: torch.randn(5).half(),
    "bfloat16": lambda: torch.randn(5).bfloat16(),
    "complex": lambda: torch.randn(3, dtype=torch.complex64),
    "int64": lambda: torch.arange(10),
    "int8": lambda: torch.arange(-4, 4, dtype=torch.int8),
    "uint8": lambda: torch.arange(250, 256, dtype=torch.uint8),
    "bool": lambda: torch.arange(6) > 2,
    "scalar": lambda: torch.tensor(2.5),
    "empty": lambda: torch.empty(0, 3),
    "transposed": lambda: torch.arange(6.0).reshape(2, 3).t(),
    "offset view": lambda: torch.arange(20.0)[5:15:2],
    "expanded": lambda: torch.tensor([1.0, 2.0]).expand(3, 2),
    "nan and inf": lambda: torch.tensor([float("nan"), float("inf"), -0.0]),
    "requires grad": lambda: torch.randn(3, requires_grad=True),
    "parameter": lambda: torch.nn.Parameter(torch.randn(2, 2)),
    "module": lambda: torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.BatchNorm1d(4)),
    "shared storage": _shared,
    "call arguments": lambda: ((torch.ones(2, 3), [torch.zeros(1)]), {"batch_size": 4, "mask": torch.tensor([True])}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_value_arrives_as_torchs_own_pickling_delivers_it(name):
    torch.manual_seed(0)
    value = CASES[name]()
    expected = described(pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)), {})
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a student would see any warning in the kernel's output
        got = described(sent(value), {})
    assert got == expected


def test_the_storage_travels_as_raw_bytes_not_as_a_torch_save_file():
    data = wire.dumps(torch.arange(4, dtype=torch.int32))
    assert b"_load_from_bytes" not in data and b"_storage" in data
    assert bytes(torch.arange(4, dtype=torch.int32).numpy()) in data
    assert b"_load_from_bytes" in pickle.dumps(torch.arange(4, dtype=torch.int32))   # what torch itself sends


def test_a_storage_that_is_not_on_the_cpu_is_left_to_torch():
    meta = torch.empty(3, 2, device="meta")
    got = sent(meta)
    assert (got.device.type, tuple(got.shape), got.dtype) == ("meta", (3, 2), torch.float32)


def test_the_received_tensor_owns_its_memory():
    original = torch.zeros(3)
    received = sent(original)
    received.add_(1)   # a student function may change its argument in place: never the judge's tensor
    assert original.tolist() == [0.0, 0.0, 0.0] and received.tolist() == [1.0, 1.0, 1.0]
