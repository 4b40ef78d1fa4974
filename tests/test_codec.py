"""The codec's bounds, one test each: a reply from the sandbox is refused before it is built.

Every frame here is what a hostile kernel could write on its socket (the protocol
module is importable in the sandbox). Refusals are :class:`wire.CodecError`
naming the bound; memory is measured with tracemalloc to show nothing was built.
"""
from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import tracemalloc

import numpy as np
import pytest
import torch

from autograder.engine import wire
from autograder.engine.wire import CodecError, Limits


def frame(header: bytes, buffers: list[bytes] = ()) -> bytes:
    return struct.pack(">I", len(header)) + header + b"".join(buffers)


def read(data: bytes, limits: Limits = wire.LIMITS):
    """read_frame on a real socket fed ``data`` by a thread; returns (result or error, tracemalloc peak)."""
    a, b = socket.socketpair()
    a.settimeout(20)

    def feed():
        try:
            b.sendall(data)
        except OSError:
            pass  # the reader refused the frame and closed its end
        finally:
            b.close()

    writer = threading.Thread(target=feed)
    writer.start()
    tracemalloc.start()
    try:
        try:
            got = wire.read_frame(a, limits)
        except CodecError as exc:
            got = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        a.close()
        writer.join()
    return got, peak


def roundtrip(value, limits: Limits = wire.LIMITS):
    handles: list = []
    buffers: list[bytes] = []
    tree = wire.encode(value, lambda o: handles.append(o) or len(handles) - 1, buffers, limits)
    header = json.dumps({"op": "value", "value": tree, "buffers": [len(b) for b in buffers]}).encode()
    got, _ = read(frame(header, buffers), limits)
    assert not isinstance(got, CodecError), got
    head, bufs = got
    return wire.decode(head["value"], bufs, lambda meta: ("handle", meta), resolve, limits)


def resolve(name: str):
    return sys.modules["numpy"] if name == "numpy" else None


def decode(tree, buffers=(), limits: Limits = wire.LIMITS):
    return wire.decode(tree, list(buffers), lambda meta: ("handle", meta), resolve, limits)


# --------------------------------------------------------------------------- frame size

def test_frame_over_the_size_limit_is_refused_from_its_length_prefix():
    # only the 4-byte prefix is sent: reading any further would block until the socket's timeout
    a, b = socket.socketpair()
    a.settimeout(20)
    b.sendall(struct.pack(">I", wire.LIMITS.frame_bytes + 1))
    with pytest.raises(CodecError, match="frame size"):
        wire.read_frame(a)
    a.close()
    b.close()


def test_frame_size_limit_is_sane():
    assert wire.LIMITS.frame_bytes <= 128 << 20
    assert wire.LIMITS.memory <= 512 << 20


def test_buffers_past_the_frame_limit_are_refused_before_they_are_read():
    limits = Limits(frame_bytes=1 << 20)
    header = json.dumps({"op": "value", "value": None, "buffers": [2 << 20]}).encode()
    got, _ = read(frame(header), limits)  # the 2 MB buffer is never sent: refusing must not wait for it
    assert isinstance(got, CodecError) and "frame size" in str(got)


# --------------------------------------------------------------------------- memory before parsing

def test_reply_bomb_of_empty_objects_is_refused_before_it_is_parsed():
    """The issue's bomb, at the default limits: ~60 MB of `[{},{},...]` would expand to ~2 GB."""
    n = 20_000_000
    raw = b'{"op":"value","value":[' + b"{}," * (n - 1) + b"{}]}"
    assert len(raw) < wire.LIMITS.frame_bytes
    got, peak = read(frame(raw))
    assert isinstance(got, CodecError)
    assert str(got).startswith("memory:")
    # the frame itself (~60 MB) was read; nothing was built from it
    assert peak < 2 * len(raw), peak


def test_header_cost_bounds_what_parsing_really_takes():
    for raw in (b"[" + b"{}," * 50_000 + b"{}]", b"[" + b"[]," * 50_000 + b"[]]",
                b"[" + b"0.5," * 50_000 + b"1.5]", b'{' + b",".join(b'"k%d":[{}]' % i for i in range(30_000)) + b'}',
                json.dumps(["\U0001f600" + "a" * 100] * 1000, ensure_ascii=False).encode()):
        tracemalloc.start()
        try:
            value = json.loads(raw)
            used = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert value is not None
        assert used <= wire.header_cost(raw), (raw[:20], used, wire.header_cost(raw))


# --------------------------------------------------------------------------- bounds while rebuilding

def test_items_bound():
    tree = {"$": "list", "v": list(range(1001))}
    with pytest.raises(CodecError, match="^items"):
        decode(tree, limits=Limits(items=1000))
    assert decode({"$": "list", "v": list(range(900))}, limits=Limits(items=1000)) == list(range(900))


def test_depth_bound():
    tree = 1
    for _ in range(wire.LIMITS.depth + 5):
        tree = {"$": "list", "v": [tree]}
    with pytest.raises(CodecError, match="^depth"):
        decode(tree)


def test_depth_bound_on_the_wire():
    raw = b'{"value":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    got, _ = read(frame(raw))
    assert isinstance(got, CodecError)


def test_text_bound_for_strings_and_bytes():
    limits = Limits(text=1000)
    with pytest.raises(CodecError, match="^text"):
        decode("x" * 1001, limits=limits)
    with pytest.raises(CodecError, match="^text"):
        decode({"$": "bytes", "b": 0}, [b"x" * 1001], limits=limits)
    with pytest.raises(CodecError, match="^text"):
        decode({"$": "str", "b": 0}, [b"x" * 1001], limits=limits)
    assert decode({"$": "str", "b": 0}, ["é".encode() * 10], limits=limits) == "é" * 10


def test_one_buffer_referenced_many_times_is_charged_every_time():
    """Without a running budget, 1 MB referenced 2000 times would become 2 GB of bytes objects."""
    tree = {"$": "list", "v": [{"$": "bytes", "b": 0}] * 2000}
    tracemalloc.start()
    try:
        with pytest.raises(CodecError, match="^memory"):
            decode(tree, [b"x" * (1 << 20)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < wire.LIMITS.memory + (16 << 20)


def test_same_array_buffer_referenced_many_times_is_refused():
    raw = np.zeros(1 << 18, dtype="float32").tobytes()  # 1 MB
    item = {"$": "tensor", "dtype": "float32", "shape": [1 << 18], "b": 0}
    with pytest.raises(CodecError, match="^memory"):
        decode({"$": "list", "v": [item] * 1000}, [raw])


@pytest.mark.parametrize("tree, buffers", [
    ({"$": "nope"}, []),
    ([1, 2], []),
    ({"$": "set", "v": [{"$": "list", "v": []}]}, []),
    ({"$": "dict", "k": [{"$": "dict", "k": [], "v": []}], "v": [1]}, []),
    ({"$": "dict", "k": [1], "v": []}, []),
    ({"$": "device", "name": "cuda:banana"}, []),
    ({"$": "float", "v": "not a float"}, []),
    ({"$": "float", "v": "1" * 5000}, []),
    ({"$": "ndarray", "dtype": "object", "shape": [1], "b": 0}, [b"x" * 8]),
    ({"$": "ndarray", "dtype": "float64", "shape": [2], "b": 0}, [b"x" * 8]),
    ({"$": "ndarray", "dtype": "float64", "shape": [0, 1 << 61, 1 << 61], "b": 0}, [b""]),
    ({"$": "tensor", "dtype": "float32", "shape": [1], "b": 5}, [b"x" * 4]),
    ({"$": "tensor", "dtype": "int64", "shape": [1], "b": 0, "param": True, "requires_grad": True}, [b"x" * 8]),
    ({"$": "tensor", "dtype": "float32", "shape": [1], "b": 0, "grad": 5}, [b"x" * 4]),
    ({"$": "tensor", "dtype": "float32", "shape": [1], "b": 0,
      "grad": {"$": "tensor", "dtype": "float32", "shape": [2], "b": 1}}, [b"x" * 4, b"x" * 8]),
    ({"$": "size", "v": [1 << 70]}, []),
    ({"$": "str", "b": 0}, [b"\xff\xfe"]),
    ({"$": "handle"}, []),
    ({"$": "module", "name": "os"}, []),
])
def test_malformed_values_raise_the_codecs_own_error(tree, buffers):
    with pytest.raises(CodecError):
        decode(tree, buffers)


# --------------------------------------------------------------------------- honest values

def test_honest_values_round_trip():
    values = [None, True, 3, -0.0, float("inf"), 2.5, 3 + 4j, "é" * 300 + "\U0001f600", b"\x00\xff",
              [1, (2, {3}), frozenset({4})], {"a": [1.5], (1, 2): None},
              np.arange(12, dtype="int16").reshape(3, 4), np.float32(1.25), np.dtype("float64"),
              torch.arange(6, dtype=torch.float32).reshape(2, 3), torch.ones(2, dtype=torch.bfloat16),
              torch.Size([2, 3]), torch.float16, torch.device("cpu")]
    for value in values:
        got = roundtrip(value)
        if isinstance(value, np.ndarray):
            assert got.dtype == value.dtype and (got == value).all()
        elif isinstance(value, torch.Tensor):
            assert got.dtype == value.dtype and torch.equal(got, value)
        else:
            assert got == value and type(got) is type(value), (value, got)
    nan = roundtrip(float("nan"))
    assert nan != nan


def test_honest_kernel_sends_what_would_not_fit_as_handles_never_as_a_refused_frame():
    limits = Limits(items=10_000, memory=4 << 20, frame_bytes=1 << 20, text=1000)
    got = roundtrip([list(range(1000)) for _ in range(20)] + ["y" * 2000, b"z" * 2000,
                                                             np.zeros(1 << 20, dtype="uint8")], limits)
    assert got[0] == list(range(1000))
    assert any(type(x) is tuple and x[0] == "handle" for x in got[:20])  # the ones past the bound
    assert all(type(x) is tuple and x[0] == "handle" for x in got[20:])
    many_objects = roundtrip([object() for _ in range(5000)], limits)
    assert isinstance(many_objects, tuple) and many_objects[0] == "handle"  # one handle for the whole list


def test_a_module_the_judge_does_not_resolve_stays_a_handle():
    assert roundtrip(np) is np
    got = decode({"$": "module", "name": "antigravity", "id": 7})
    assert got[0] == "handle" and got[1]["id"] == 7 and "antigravity" in got[1]["repr"]
    assert "antigravity" not in sys.modules
