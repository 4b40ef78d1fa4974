"""Fuzzing the judge's decoder with random and adversarial frames.

For every frame: :func:`wire.read_frame` then :func:`wire.decode` either give a
value within the limits or raise :class:`wire.CodecError` (``read_frame`` may
also see the end of the stream, ``EOFError``, which the channel treats as a
dead kernel); never another exception, and never more memory than the limits
allow (measured with tracemalloc).
"""
from __future__ import annotations

import json
import socket
import struct
import threading
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.engine import wire
from autograder.engine.wire import CodecError, Limits

pytestmark = pytest.mark.slow  # hypothesis fuzzing under tracemalloc; tests/test_codec.py is the fast tier

LIMITS = Limits(frame_bytes=256 << 10, items=2000, depth=12, text=4096, memory=1 << 20)
# what one decode may allocate, with room for the interpreter's own noise (and torch's first use)
PEAK = 3 * LIMITS.memory + 2 * LIMITS.frame_bytes + (4 << 20)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

TAGS = ["float", "complex", "bytes", "str", "list", "tuple", "set", "frozenset", "dict", "module", "handle",
        "ndarray", "npscalar", "npdtype", "tensor", "size", "dtype", "device", "nope", None, 1]
KEYS = ["$", "v", "k", "b", "shape", "dtype", "name", "id", "grad", "param", "requires_grad", "re", "im",
        "type", "repr", "callable"]
DTYPES = ["float32", "float64", "int64", "bool", "bfloat16", "uint8", "object", "float128", "U8"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(1 << 80), max_value=1 << 80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(TAGS[:-2]), st.sampled_from(DTYPES), st.sampled_from(["cpu", "cuda:x", "meta", "1e999", "nan"]),
)


def tagged(children):
    return st.builds(
        lambda tag, extra: {"$": tag, **extra},
        st.sampled_from(TAGS),
        st.dictionaries(st.sampled_from(KEYS[1:]), st.one_of(children, st.lists(children, max_size=6)), max_size=6),
    )


trees = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=6), tagged(children)), max_leaves=60)
buffers = st.lists(st.binary(max_size=64), max_size=4)


def _bomb(kind: str, n: int) -> bytes:
    """Frames a hostile kernel would write, sized around the limits."""
    if kind == "objects":
        return b'{"value":[' + b"{}," * n + b"{}]}"
    if kind == "nesting":
        return b'{"value":' + b"[" * n + b"]" * n + b"}"
    if kind == "tagged_nesting":
        return b'{"value":' + b'{"$":"list","v":[' * n + b"1" + b"]}" * n + b"}"
    if kind == "buffer_refs":
        items = ",".join(['{"$":"bytes","b":0}'] * n)
        return ('{"value":{"$":"list","v":[%s]},"buffers":[4096]}' % items).encode() + b"x" * 4096
    if kind == "array_refs":
        item = '{"$":"ndarray","dtype":"float64","shape":[512],"b":0}'
        return ('{"value":{"$":"list","v":[%s]},"buffers":[4096]}' % ",".join([item] * n)).encode() + b"x" * 4096
    if kind == "wide_dict":
        keys = ",".join(str(i) for i in range(n))
        return ('{"value":{"$":"dict","k":[%s],"v":[%s]}}' % (keys, keys)).encode()
    if kind == "long_string":
        return b'{"value":"' + b"a" * n * 10 + b'"}'
    if kind == "big_int":
        return b'{"value":' + b"9" * n + b"}"
    if kind == "many_buffers":
        return ('{"value":null,"buffers":[%s]}' % ",".join(["0"] * n)).encode()
    if kind == "lying_length":
        return b'{"value":null,"buffers":[999999999]}'
    raise AssertionError(kind)


bombs = st.builds(_bomb, st.sampled_from(["objects", "nesting", "tagged_nesting", "buffer_refs", "array_refs",
                                          "wide_dict", "long_string", "big_int", "many_buffers", "lying_length"]),
                  st.integers(min_value=1, max_value=40_000))


@pytest.fixture(scope="module", autouse=True)
def traced():
    torch.zeros(1)  # first uses of torch and numpy allocate caches: not the decoder's doing
    np.zeros(1).copy()
    tracemalloc.start()
    yield
    tracemalloc.stop()


def _within(value, depth: int = 0) -> int:
    """Checks a decoded value against LIMITS; returns how many values it holds."""
    assert depth <= LIMITS.depth + 1
    if isinstance(value, (str, bytes)):
        assert len(value) <= LIMITS.text
        return 1
    if isinstance(value, dict):
        return 1 + sum(_within(k, depth + 1) + _within(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)) and not isinstance(value, torch.Size):
        return 1 + sum(_within(v, depth + 1) for v in value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        assert value.nbytes <= LIMITS.frame_bytes if isinstance(value, np.ndarray) else \
            value.numel() * value.element_size() <= 2 * LIMITS.frame_bytes
    return 1


def _decode_frame(data: bytes):
    """What the channel does with one frame; returns the value, or the error it raised."""
    a, b = socket.socketpair()
    a.settimeout(30)

    def feed():
        try:
            b.sendall(data)
        except OSError:
            pass
        finally:
            b.close()

    writer = threading.Thread(target=feed)
    writer.start()
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    try:
        header, bufs = wire.read_frame(a, LIMITS)
        value = wire.decode(header.get("value"), bufs, lambda meta: ("handle", meta), lambda name: None, LIMITS)
    except (CodecError, EOFError) as exc:
        value = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1] - start
        a.close()
        writer.join()
    assert peak < PEAK, peak
    if not isinstance(value, Exception):
        assert _within(value) <= 2 * LIMITS.items + 1
    return value


def _frame(header: bytes, tail: bytes = b"") -> bytes:
    return struct.pack(">I", len(header)) + header + tail


@FUZZ
@given(trees, buffers)
def test_random_values_decode_or_raise_the_codecs_error(tree, bufs):
    header = json.dumps({"op": "value", "value": tree, "buffers": [len(b) for b in bufs]}).encode()
    _decode_frame(_frame(header, b"".join(bufs)))


@FUZZ
@given(bombs)
def test_adversarial_frames_decode_or_raise_the_codecs_error(data):
    _decode_frame(_frame(data))


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_decode_or_raise_the_codecs_error(data):
    _decode_frame(data)


@FUZZ
@given(st.binary(max_size=512), st.integers(min_value=0, max_value=(1 << 32) - 1))
def test_random_headers_with_any_length_prefix(data, length):
    _decode_frame(struct.pack(">I", length) + data)


@FUZZ
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=300),
                              st.binary(max_size=300)),
                    lambda c: st.one_of(st.lists(c, max_size=8), st.tuples(c, c),
                                        st.dictionaries(st.one_of(st.integers(), st.text(max_size=8)), c, max_size=5),
                                        st.frozensets(st.integers(), max_size=5)),
                    max_leaves=80))
def test_what_an_honest_kernel_encodes_always_decodes(value):
    handles: list = []
    bufs: list[bytes] = []
    tree = wire.encode(value, lambda o: handles.append(o) or len(handles) - 1, bufs, LIMITS)
    header = json.dumps({"op": "value", "value": tree, "buffers": [len(b) for b in bufs]}).encode()
    got = _decode_frame(_frame(header, b"".join(bufs)))
    assert not isinstance(got, Exception), got
