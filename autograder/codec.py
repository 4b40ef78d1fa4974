"""Plain-data codec between the sandbox and the trusted judge.

Direction matters:

* sandbox -> judge (:func:`encode` runs in the sandbox, :func:`decode` in the
  judge): only plain data crosses, as JSON plus raw array buffers. The judge
  never unpickles anything the student process produced; :func:`decode`
  accepts a closed set of tags, checks dtypes against an allow-list and checks
  every buffer length against its shape. Anything that is not plain data
  (functions, classes, modules' objects, nn.Module instances, ``int``
  subclasses with a lying ``__eq__`` ...) crosses as an opaque *handle* that
  the judge can only call, read attributes of, iterate, index or print
  through the sandbox.
* judge -> sandbox: trusted data, sent with pickle (the sandbox may unpickle
  what the judge built, e.g. ``torch.nn.Linear(3, 4)`` for a hidden test).

Frames on the wire: 4-byte big-endian length of a JSON header, the header,
then the buffers whose lengths the header lists.
"""
from __future__ import annotations

import collections
import json
import struct
from typing import Any, Callable

MAX_DEPTH = 64
MAX_ITEMS = 1_000_000

# dtypes that may cross as raw buffers; anything else becomes a handle
NUMPY_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}
TORCH_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8",
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
}


class CodecError(ValueError):
    """A frame from the sandbox is not well-formed plain data."""


# --------------------------------------------------------------------------- frames

def write_frame(sock, header: dict, buffers: list[bytes] = ()) -> None:
    header = dict(header)
    header["buffers"] = [len(b) for b in buffers]
    raw = json.dumps(header, allow_nan=True).encode()
    sock.sendall(struct.pack(">I", len(raw)) + raw + b"".join(buffers))


def write_pickle(sock, obj: Any, persistent_id: Callable[[Any], Any] | None = None) -> None:
    """Judge -> sandbox: a pickled request (trusted data only)."""
    import io
    import pickle

    bio = io.BytesIO()
    pickler = pickle.Pickler(bio, protocol=pickle.HIGHEST_PROTOCOL)
    if persistent_id is not None:
        pickler.persistent_id = persistent_id
    pickler.dump(obj)
    data = bio.getvalue()
    sock.sendall(struct.pack(">Q", len(data)) + data)


def read_exact(sock, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError("the sandbox closed the connection")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_pickle(sock, persistent_load: Callable[[Any], Any] | None = None) -> Any:
    """Sandbox side: read one request the judge pickled."""
    import io
    import pickle

    (length,) = struct.unpack(">Q", read_exact(sock, 8))
    unpickler = pickle.Unpickler(io.BytesIO(read_exact(sock, length)))
    if persistent_load is not None:
        unpickler.persistent_load = persistent_load
    return unpickler.load()


def read_frame(sock, max_bytes: int) -> tuple[dict, list[bytes]]:
    """Judge side: read one frame, refusing frames over ``max_bytes``."""
    (hlen,) = struct.unpack(">I", read_exact(sock, 4))
    if hlen > max_bytes:
        raise CodecError(f"header of {hlen} bytes is over the {max_bytes} byte limit")
    try:
        header = json.loads(read_exact(sock, hlen))
    except (ValueError, RecursionError, MemoryError) as exc:
        raise CodecError(f"header is not usable JSON: {type(exc).__name__}") from None
    if not isinstance(header, dict):
        raise CodecError("header is not an object")
    sizes = header.get("buffers", [])
    if not isinstance(sizes, list) or not all(type(s) is int and s >= 0 for s in sizes):
        raise CodecError("bad buffer list")
    if sum(sizes) + hlen > max_bytes:
        raise CodecError(f"value of {sum(sizes)} bytes is over the {max_bytes} byte limit")
    return header, [read_exact(sock, s) for s in sizes]


# --------------------------------------------------------------------------- encode (sandbox)

def encode(value: Any, handles: Callable[[Any], int], buffers: list[bytes], depth: int = 0) -> Any:
    """Turn ``value`` into a JSON-able tree; non-plain objects become handles.

    Runs in the sandbox. Exact type checks on purpose: a subclass of ``int``
    or ``list`` may lie about itself, so it travels as a handle.
    """
    import sys

    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        return {"$": "float", "v": repr(value)}  # keeps nan/inf/-0.0 exactly
    if depth > MAX_DEPTH:
        return _handle(value, handles)
    if t is complex:
        return {"$": "complex", "re": repr(value.real), "im": repr(value.imag)}
    if t is bytes:
        buffers.append(value)
        return {"$": "bytes", "b": len(buffers) - 1}
    if t in (list, tuple, set, frozenset):
        items = list(value)
        if len(items) > MAX_ITEMS:
            return _handle(value, handles)
        return {"$": t.__name__, "v": [encode(v, handles, buffers, depth + 1) for v in items]}
    if t is dict or t is collections.OrderedDict:
        if len(value) > MAX_ITEMS:
            return _handle(value, handles)
        return {"$": "dict",
                "k": [encode(k, handles, buffers, depth + 1) for k in value.keys()],
                "v": [encode(v, handles, buffers, depth + 1) for v in value.values()]}
    if t.__name__ == "module" and t is type(sys):
        return {"$": "module", "name": value.__name__}
    np = sys.modules.get("numpy")
    if np is not None:
        if t is np.ndarray and value.dtype.name in NUMPY_DTYPES:
            arr = np.ascontiguousarray(value)
            buffers.append(arr.tobytes())
            return {"$": "ndarray", "dtype": arr.dtype.name, "shape": list(arr.shape), "b": len(buffers) - 1}
        if isinstance(value, np.generic) and t.__module__ == "numpy" and np.dtype(t).name in NUMPY_DTYPES:
            buffers.append(np.asarray(value).tobytes())
            return {"$": "npscalar", "dtype": np.dtype(t).name, "b": len(buffers) - 1}
        if t is np.dtype and value.name in NUMPY_DTYPES:
            return {"$": "npdtype", "name": value.name}
    torch = sys.modules.get("torch")
    if torch is not None:
        if (t is torch.Tensor or t is torch.nn.Parameter) and value.layout == torch.strided \
                and str(value.dtype).replace("torch.", "") in TORCH_DTYPES and not value.is_quantized:
            return _encode_tensor(value, torch, handles, buffers, depth)
        if t is torch.Size:
            return {"$": "size", "v": [int(v) for v in value]}
        if t is torch.dtype:
            return {"$": "dtype", "name": str(value).replace("torch.", "")}
        if t is torch.device:
            return {"$": "device", "name": str(value)}
    return _handle(value, handles)


def _encode_tensor(value, torch, handles, buffers, depth):
    name = str(value.dtype).replace("torch.", "")
    data = value.detach().cpu().contiguous()
    if name == "bfloat16":
        data = data.float()
    buffers.append(data.numpy().tobytes())
    grad = value.grad if value.is_leaf and value.grad is not None else None
    return {
        "$": "tensor", "dtype": name, "shape": list(value.shape), "b": len(buffers) - 1,
        "requires_grad": bool(value.requires_grad),
        "param": type(value) is torch.nn.Parameter,
        "grad": _encode_tensor(grad, torch, handles, buffers, depth + 1) if grad is not None else None,
    }


def _handle(value, handles) -> dict:
    try:
        text = object.__repr__(value)
        name = type(value).__name__
    except Exception:  # noqa: BLE001 - a hostile type may raise anywhere
        text, name = "<object>", "object"
    return {"$": "handle", "id": handles(value), "type": str(name)[:200], "repr": text[:200],
            "callable": callable(value)}


# --------------------------------------------------------------------------- decode (judge)

def decode(tree: Any, buffers: list[bytes], make_handle: Callable[[dict], Any],
           import_module: Callable[[str], Any], depth: int = 0) -> Any:
    """Rebuild a value from the sandbox as real judge-side objects.

    Raises :class:`CodecError` for anything outside the closed set of tags.
    """
    if depth > MAX_DEPTH + 2:
        raise CodecError("value nested too deeply")
    if tree is None or type(tree) in (bool, int, str):
        return tree
    if type(tree) is float:  # plain JSON floats are not produced, but are harmless
        return tree
    if type(tree) is not dict:
        raise CodecError(f"unexpected {type(tree).__name__} in value")
    tag = tree.get("$")
    rec = lambda v: decode(v, buffers, make_handle, import_module, depth + 1)  # noqa: E731
    if tag == "float":
        return float(_str(tree, "v"))
    if tag == "complex":
        return complex(float(_str(tree, "re")), float(_str(tree, "im")))
    if tag == "bytes":
        return bytes(_buffer(tree, buffers))
    if tag in ("list", "tuple", "set", "frozenset"):
        items = tree.get("v")
        if type(items) is not list:
            raise CodecError(f"{tag} without items")
        values = [rec(v) for v in items]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](values)
    if tag == "dict":
        keys, values = tree.get("k"), tree.get("v")
        if type(keys) is not list or type(values) is not list or len(keys) != len(values):
            raise CodecError("dict with mismatched keys and values")
        return {rec(k): rec(v) for k, v in zip(keys, values)}
    if tag == "module":
        return import_module(_str(tree, "name"))
    if tag == "handle":
        if type(tree.get("id")) is not int:
            raise CodecError("handle without id")
        return make_handle({"id": tree["id"], "type": str(tree.get("type", ""))[:200],
                            "repr": str(tree.get("repr", ""))[:200], "callable": tree.get("callable") is True})
    if tag in ("ndarray", "npscalar", "npdtype"):
        import numpy as np

        if tag == "npdtype":
            return np.dtype(_dtype(tree, "name", NUMPY_DTYPES))
        dtype = np.dtype(_dtype(tree, "dtype", NUMPY_DTYPES))
        shape = _shape(tree) if tag == "ndarray" else []
        raw = _buffer(tree, buffers)
        if len(raw) != _count(shape) * dtype.itemsize:
            raise CodecError("array buffer does not match its shape")
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        return arr if tag == "ndarray" else arr[()]
    if tag in ("tensor", "size", "dtype", "device"):
        import torch

        if tag == "size":
            items = tree.get("v")
            if type(items) is not list or not all(type(i) is int for i in items):
                raise CodecError("bad torch.Size")
            return torch.Size(items)
        if tag == "dtype":
            return getattr(torch, _dtype(tree, "name", TORCH_DTYPES))
        if tag == "device":
            return torch.device(_str(tree, "name"))
        return _decode_tensor(tree, buffers, torch, depth)
    raise CodecError(f"unknown tag {tag!r}")


def _decode_tensor(tree, buffers, torch, depth):
    import numpy as np

    name = _dtype(tree, "dtype", TORCH_DTYPES)
    np_name = "float32" if name == "bfloat16" else name
    shape = _shape(tree)
    raw = _buffer(tree, buffers)
    dtype = np.dtype(np_name)
    if len(raw) != _count(shape) * dtype.itemsize:
        raise CodecError("tensor buffer does not match its shape")
    tensor = torch.from_numpy(np.frombuffer(raw, dtype=dtype).reshape(shape).copy())
    if name == "bfloat16":
        tensor = tensor.to(torch.bfloat16)
    if tree.get("param") is True:
        tensor = torch.nn.Parameter(tensor, requires_grad=tree.get("requires_grad") is True)
    elif tree.get("requires_grad") is True and tensor.is_floating_point():
        tensor.requires_grad_(True)
    grad = tree.get("grad")
    if grad is not None:
        if depth > 4:
            raise CodecError("gradient nested too deeply")
        tensor.grad = _decode_tensor(grad, buffers, torch, depth + 1)
    return tensor


def _str(tree, key) -> str:
    value = tree.get(key)
    if type(value) is not str:
        raise CodecError(f"'{key}' is not a string")
    return value


def _dtype(tree, key, allowed) -> str:
    name = _str(tree, key)
    if name not in allowed:
        raise CodecError(f"dtype {name!r} is not allowed")
    return name


def _shape(tree) -> list[int]:
    shape = tree.get("shape")
    if type(shape) is not list or not all(type(s) is int and s >= 0 for s in shape) or len(shape) > 32:
        raise CodecError("bad shape")
    return shape


def _count(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _buffer(tree, buffers) -> bytes:
    index = tree.get("b")
    if type(index) is not int or not 0 <= index < len(buffers):
        raise CodecError("buffer index out of range")
    return buffers[index]
