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
  what the judge built, e.g. ``torch.nn.Linear(3, 4)`` for a hidden test); a
  tensor's CPU storage travels as its raw bytes, not as a ``torch.save`` file
  (:class:`_Pickler`), and arrives as torch's own pickling would deliver it.

Frames on the wire: 4-byte big-endian length of a JSON header, the header,
then the buffers whose lengths the header lists.

Bounds (:class:`Limits`, one owner: :data:`LIMITS`). Everything the judge reads
from the sandbox is hostile input, so decoding is bounded before and while it
builds anything:

* a frame (header and buffers) is at most ``frame_bytes``; larger frames are
  refused from their length prefix, before they are read;
* before the header is parsed, an upper bound on what parsing it would
  allocate is computed from its bytes (every ``[ { , :`` may start a new
  object); a header that could expand past ``memory`` is refused unparsed
  (a frame of ``[{},{},...]`` is ~30x its size once built);
* while a value is rebuilt, every object created is charged to a running
  budget (``memory``), every value to ``items``; nesting is capped at
  ``depth``; one string or byte string at ``text``.

Past any bound :func:`read_frame` / :func:`decode` raise :class:`CodecError`
saying which bound, and nothing else: the caller ends that kernel (status
``crashed``, flag ``attack``). :func:`encode` keeps an honest kernel inside the
same bounds by sending what would not fit as a handle.

Modules: a student value that is a module crosses as its name *and* a handle.
The judge resolves the name only through the ``resolve_module`` it passes in
(its own fixed table; see :mod:`autograder.engine.judge`) and otherwise keeps the
handle: a name the student chose is never imported.
"""
from __future__ import annotations

import collections
import enum
import json
import pickle
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

MAX_DEPTH = 64
MAX_ITEMS = 1_000_000          # items of one container an honest kernel sends as data


@dataclass(frozen=True)
class Limits:
    """What one reply from the sandbox may be and expand to."""

    frame_bytes: int = 64 << 20    # header plus buffers on the wire
    items: int = 2_000_000         # values in one reply, all levels together
    depth: int = MAX_DEPTH + 2     # nesting of containers
    text: int = 16 << 20           # characters of one string, bytes of one byte string
    memory: int = 256 << 20        # what parsing the header, and again rebuilding the value, may allocate


LIMITS = Limits()
# the most one JSON value can cost once parsed, beyond its own characters (a dict is 64 bytes
# and a slot in its container 8; floats, ints and short strings are smaller); measured in tests
COST_PER_VALUE = 96

# dtypes that may cross as raw buffers; anything else becomes a handle
NUMPY_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}
TORCH_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8",
    "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
}


class Op(str, enum.Enum):
    """The kernel protocol's operations: the ``op`` of every frame and request, a closed list.

    The executor (and the judge through it) sends EXEC, AUDIT, BYE and, for a test's view of
    student values, GET and the handle operations CALL ... REPR; the kernel answers PID and
    SETUP_FAILED (while its sandbox is built), READY, DONE (a cell ran), VALUE or RAISE (a
    request's answer) and AUDITED. Frames carry the word itself (a member is a ``str``).
    """
    # executor -> kernel
    EXEC = "exec"     # (EXEC, cell, output token, seed or None, the cell's kernel_code entry or None)
    AUDIT = "audit"
    BYE = "bye"
    GET = "get"
    CALL = "call"
    GETATTR = "getattr"
    ITER = "iter"
    LEN = "len"
    GETITEM = "getitem"
    STR = "str"
    REPR = "repr"
    # kernel -> executor
    PID = "pid"
    SETUP_FAILED = "setup_failed"
    READY = "ready"
    DONE = "done"
    VALUE = "value"
    RAISE = "raise"
    AUDITED = "audited"


class CodecError(ValueError):
    """A frame from the sandbox is not well-formed plain data, or is past one of the :class:`Limits`."""


# --------------------------------------------------------------------------- frames

def write_frame(sock, header: dict, buffers: Sequence[bytes] = ()) -> None:
    header = dict(header)
    header["buffers"] = [len(b) for b in buffers]
    raw = json.dumps(header, allow_nan=True).encode()
    sock.sendall(struct.pack(">I", len(raw)) + raw + b"".join(buffers))


class _Pickler(pickle.Pickler):
    """pickle's, except that a tensor's CPU storage travels as its raw bytes (see :func:`_storage`).

    torch pickles a storage as a whole ``torch.save`` file, which the kernel reads back with
    ``torch.load``: about 0.2 ms each way per tensor in a warm process, several times that in a
    freshly forked one, for every tensor a test passes to a student function. Everything else
    about the tensor (type, offset, shape, strides, ``requires_grad``, Parameter) is pickled by
    torch as before; a storage on another device, or of another kind, too.
    """

    def reducer_override(self, obj):
        if type(obj).__name__ == "TypedStorage" and type(obj).__module__ == "torch.storage":
            torch = sys.modules["torch"]
            untyped = obj._untyped_storage
            if untyped.device.type == "cpu":
                data = torch.empty(0, dtype=torch.uint8).set_(untyped).numpy().tobytes()
                return _storage, (data, str(obj.dtype).removeprefix("torch."))
        return NotImplemented


def _storage(data: bytes, dtype: str):
    """The storage :class:`_Pickler` sent: a CPU storage of ``dtype`` holding ``data`` (a copy)."""
    import torch

    raw = torch.frombuffer(bytearray(data), dtype=torch.uint8).untyped_storage() if data else torch.UntypedStorage(0)
    return torch.TypedStorage(wrap_storage=raw, dtype=getattr(torch, dtype), _internal=True)


def dumps(obj: Any, persistent_id: Callable[[Any], Any] | None = None) -> bytes:
    """A request as the judge pickles it (trusted data only)."""
    import io

    bio = io.BytesIO()
    pickler = _Pickler(bio, protocol=pickle.HIGHEST_PROTOCOL)
    if persistent_id is not None:
        pickler.persistent_id = persistent_id  # type: ignore[method-assign]  # pickle's documented hook
    pickler.dump(obj)
    return bio.getvalue()


def write_pickle(sock, obj: Any, persistent_id: Callable[[Any], Any] | None = None) -> None:
    """Judge -> sandbox: a pickled request (trusted data only)."""
    data = dumps(obj, persistent_id)
    sock.sendall(struct.pack(">Q", len(data)) + data)


def read_exact(sock, n: int) -> bytearray:
    """Exactly ``n`` bytes, received in place (one copy in memory, however it arrives)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        count = sock.recv_into(view[got:], min(n - got, 1 << 20))
        if not count:
            raise EOFError("the sandbox closed the connection")
        got += count
    view.release()
    return buf


def read_pickle(sock, persistent_load: Callable[[Any], Any] | None = None) -> Any:
    """Sandbox side: read one request the judge pickled."""
    import io

    (length,) = struct.unpack(">Q", read_exact(sock, 8))
    unpickler = pickle.Unpickler(io.BytesIO(read_exact(sock, length)))
    if persistent_load is not None:
        unpickler.persistent_load = persistent_load  # type: ignore[method-assign]  # pickle's documented hook
    return unpickler.load()


def header_cost(raw: bytes | bytearray) -> int:
    """An upper bound on the bytes ``json.loads(raw)`` allocates, computed without parsing.

    Every value after the first starts after a ``,`` ``:`` ``[`` or ``{`` (counting these inside
    strings too only overestimates); each costs at most :data:`COST_PER_VALUE` beyond the
    characters it was written with. The characters are paid twice (the decoded text, then the
    strings in it), four bytes each unless the header is ASCII (as :func:`write_frame` makes it).
    """
    starts = raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{") + 1
    return len(raw) * (2 if raw.isascii() else 8) + starts * COST_PER_VALUE


def read_frame(sock, limits: Limits = LIMITS) -> tuple[dict, list[bytearray]]:
    """Judge side: read one frame within ``limits``; :class:`CodecError` names the bound it broke."""
    (hlen,) = struct.unpack(">I", read_exact(sock, 4))
    if hlen > limits.frame_bytes:
        raise CodecError(f"frame size: a header of {hlen} bytes is over the {limits.frame_bytes} byte limit")
    raw = read_exact(sock, hlen)
    cost = header_cost(raw)
    if cost > limits.memory:
        raise CodecError(f"memory: a header of {hlen} bytes could expand to {cost >> 20} MB once parsed, "
                         f"over the {limits.memory >> 20} MB limit")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise CodecError(f"header is not usable JSON: {type(exc).__name__}") from None
    if not isinstance(header, dict):
        raise CodecError("header is not an object")
    sizes = header.get("buffers", [])
    if not isinstance(sizes, list) or len(sizes) > limits.items \
            or not all(type(s) is int and s >= 0 for s in sizes):
        raise CodecError("bad buffer list")
    if sum(sizes) + hlen > limits.frame_bytes:
        raise CodecError(f"frame size: a value of {sum(sizes)} bytes is over the {limits.frame_bytes} byte limit")
    return header, [read_exact(sock, s) for s in sizes]


# --------------------------------------------------------------------------- encode (sandbox)

class _Room:
    """What an honest kernel may still put in one reply; what would not fit goes as a handle, not an error."""

    SCALAR = 32   # characters an int, float or small tag may take in the header

    def __init__(self, limits: Limits):
        # three quarters of each bound: the judge's estimate of the header is coarser than this one
        self.left = [limits.items * 3 // 4, limits.frame_bytes * 3 // 4, limits.memory * 3 // 4]
        self.text = limits.text

    def take(self, items: int, header_chars: int, buffer_bytes: int = 0) -> bool:
        """Charge one value; False (and nothing charged) if it does not fit."""
        cost = (items, header_chars + buffer_bytes, items * COST_PER_VALUE + 2 * header_chars)
        if any(c > left for c, left in zip(cost, self.left)):
            return False
        self.left = [left - c for c, left in zip(cost, self.left)]
        return True

    def charge(self, items: int, header_chars: int) -> None:
        """Charge what must go anyway (a handle); may overdraw, which :meth:`overdrawn` reports."""
        cost = (items, header_chars, items * COST_PER_VALUE + 2 * header_chars)
        self.left = [left - c for c, left in zip(cost, self.left)]

    def overdrawn(self) -> bool:
        return any(left < 0 for left in self.left)


LONG_TEXT = 256  # longer strings travel as UTF-8 buffers: none of their characters is parsed as JSON


def encode(value: Any, handles: Callable[[Any], int], buffers: list[bytes], limits: Limits = LIMITS) -> Any:
    """Turn ``value`` into a JSON-able tree; non-plain objects, and what would not fit in ``limits``, become handles.

    Runs in the sandbox. Exact type checks on purpose: a subclass of ``int``
    or ``list`` may lie about itself, so it travels as a handle.
    """
    return _encode(value, handles, buffers, 0, _Room(limits))


def _encode(value: Any, handles: Callable[[Any], int], buffers: list[bytes], depth: int, room: _Room) -> Any:
    import sys

    t = type(value)
    if value is None or t is bool or t is int or t is float:
        if t is int and value.bit_length() > 4000:
            return _handle(value, handles, room)
        return value if room.take(1, room.SCALAR) else _handle(value, handles, room)
    if t is str:
        if len(value) <= LONG_TEXT:
            return value if room.take(1, 6 * len(value) + 2) else _handle(value, handles, room)
        raw = value.encode("utf-8", "surrogatepass")
        if len(raw) > room.text or not room.take(1, room.SCALAR, len(raw)):
            return _handle(value, handles, room)
        buffers.append(raw)
        return {"$": "str", "b": len(buffers) - 1}
    if depth > MAX_DEPTH:
        return _handle(value, handles, room)
    if t is complex:
        return {"$": "complex", "re": repr(value.real), "im": repr(value.imag)} \
            if room.take(1, 3 * room.SCALAR) else _handle(value, handles, room)
    if t is bytes:
        if len(value) > room.text or not room.take(1, room.SCALAR, len(value)):
            return _handle(value, handles, room)
        buffers.append(value)
        return {"$": "bytes", "b": len(buffers) - 1}
    if t in (list, tuple, set, frozenset, dict, collections.OrderedDict):
        size = len(value)
        saved, mark = list(room.left), len(buffers)
        if size > MAX_ITEMS or not room.take(1 + size, room.SCALAR * (1 + size)):
            return _handle(value, handles, room)
        if t is dict or t is collections.OrderedDict:
            tree = {"$": "dict", "k": [_encode(k, handles, buffers, depth + 1, room) for k in value.keys()],
                    "v": [_encode(v, handles, buffers, depth + 1, room) for v in value.values()]}
        else:
            tree = {"$": t.__name__, "v": [_encode(v, handles, buffers, depth + 1, room) for v in value]}
        if room.overdrawn():  # its items' handles did not fit either: the whole container goes as one
            room.left = saved
            del buffers[mark:]
            return _handle(value, handles, room)
        return tree
    if t.__name__ == "module" and t is type(sys):
        name = value.__dict__.get("__name__")
        if type(name) is not str or len(name) > 200:
            return _handle(value, handles, room)
        return {"$": "module", "name": name, "id": handles(value)}
    np = sys.modules.get("numpy")
    if np is not None:
        if t is np.ndarray and value.dtype.name in NUMPY_DTYPES:
            if value.ndim > 32 or not room.take(1, room.SCALAR * (2 + value.ndim), value.nbytes):
                return _handle(value, handles, room)
            arr = np.ascontiguousarray(value)
            buffers.append(arr.tobytes())
            return {"$": "ndarray", "dtype": arr.dtype.name, "shape": list(arr.shape), "b": len(buffers) - 1}
        if isinstance(value, np.generic) and t.__module__ == "numpy" and np.dtype(t).name in NUMPY_DTYPES:
            buffers.append(np.asarray(value).tobytes())
            return {"$": "npscalar", "dtype": np.dtype(t).name, "b": len(buffers) - 1}
        if isinstance(value, np.dtype) and value.name in NUMPY_DTYPES and t is type(np.dtype(value.name)):
            return {"$": "npdtype", "name": value.name}
    torch = sys.modules.get("torch")
    if torch is not None:
        if (t is torch.Tensor or t is torch.nn.Parameter) and value.layout == torch.strided \
                and str(value.dtype).replace("torch.", "") in TORCH_DTYPES and not value.is_quantized:
            grad = value.grad if value.is_leaf else None
            size = value.numel() * value.element_size() + (0 if grad is None else grad.numel() * grad.element_size())
            if value.dim() > 32 or not room.take(2, room.SCALAR * (8 + 2 * value.dim()), 2 * size):
                return _handle(value, handles, room)  # (bfloat16 crosses as float32: twice its size)
            return _encode_tensor(value, torch, handles, buffers, depth)
        if t is torch.Size:
            if not room.take(1 + len(value), room.SCALAR * (1 + len(value))):
                return _handle(value, handles, room)
            return {"$": "size", "v": [int(v) for v in value]}
        if t is torch.dtype:
            return {"$": "dtype", "name": str(value).replace("torch.", "")}
        if t is torch.device:
            return {"$": "device", "name": str(value)}
    return _handle(value, handles, room)


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


def _handle(value, handles, room: _Room | None = None) -> dict:
    try:
        text = object.__repr__(value)
        name = type(value).__name__
    except Exception:  # noqa: BLE001 - a hostile type may raise anywhere
        text, name = "<object>", "object"
    text, name = str(text)[:200], str(name)[:200]
    if room is not None:
        room.charge(1, 64 + 6 * (len(text) + len(name)))
    return {"$": "handle", "id": handles(value), "type": name, "repr": text, "callable": callable(value)}


# --------------------------------------------------------------------------- decode (judge)

def decode(tree: Any, buffers: list[bytes], make_handle: Callable[[dict], Any],
           resolve_module: Callable[[str], Any], limits: Limits = LIMITS) -> Any:
    """Rebuild a value from the sandbox as real judge-side objects, within ``limits``.

    ``resolve_module(name)`` returns one of the judge's own modules or None; for None the
    module stays a handle. Raises :class:`CodecError` (never anything else) for anything
    outside the closed set of tags or past a bound, before building what is past it.
    """
    try:
        return _Decoder(buffers, make_handle, resolve_module, limits).value(tree, 0)
    except RecursionError:
        raise CodecError("depth: value nested too deeply") from None
    except MemoryError:
        raise CodecError("memory: the judge ran out of memory rebuilding the value") from None


_SEQUENCES = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


class _Decoder:
    """One reply's decoding: a running budget charged for every object it creates."""

    def __init__(self, buffers, make_handle, resolve_module, limits: Limits):
        self.buffers = buffers
        self.make_handle = make_handle
        self.resolve_module = resolve_module
        self.limits = limits
        self.items = 0
        self.memory = 0

    def charge(self, items: int, memory: int) -> None:
        self.items += items
        self.memory += memory
        if self.items > self.limits.items:
            raise CodecError(f"items: the value has more than {self.limits.items} items")
        if self.memory > self.limits.memory:
            raise CodecError(f"memory: the value would take more than {self.limits.memory >> 20} MB")

    def value(self, tree: Any, depth: int) -> Any:
        if depth > self.limits.depth:
            raise CodecError(f"depth: the value is nested more than {self.limits.depth} levels deep")
        t = type(tree)
        if tree is None or t is bool or t is int or t is float:
            self.charge(1, 0)
            return tree
        if t is str:
            if len(tree) > self.limits.text:
                raise CodecError(f"text: a string of {len(tree)} characters is over the {self.limits.text} limit")
            self.charge(1, 0)  # the parsed header already holds it; it is not copied
            return tree
        if t is not dict:
            raise CodecError(f"unexpected {t.__name__} in value")
        tag = tree.get("$")
        if tag in _SEQUENCES:
            items = tree.get("v")
            if type(items) is not list:
                raise CodecError(f"{tag} without items")
            self.charge(1, 64 + 16 * len(items))  # the list, then the container made of it
            values = [self.value(v, depth + 1) for v in items]
            return self.hashing(lambda: _SEQUENCES[tag](values))
        if tag == "dict":
            keys, values = tree.get("k"), tree.get("v")
            if type(keys) is not list or type(values) is not list or len(keys) != len(values):
                raise CodecError("dict with mismatched keys and values")
            self.charge(1, 64 + 80 * len(keys))
            pairs = [(self.value(k, depth + 1), self.value(v, depth + 1)) for k, v in zip(keys, values)]
            return self.hashing(lambda: dict(pairs))
        self.charge(1, 0)
        if tag == "float":
            return self.number(float, _str(tree, "v"))
        if tag == "complex":
            return complex(self.number(float, _str(tree, "re")), self.number(float, _str(tree, "im")))
        if tag in ("bytes", "str"):
            raw = self.buffer(tree)
            if len(raw) > self.limits.text:
                raise CodecError(f"text: a {tag} of {len(raw)} bytes is over the {self.limits.text} limit")
            if tag == "bytes":
                self.charge(0, len(raw))
                return bytes(raw)
            self.charge(0, 4 * len(raw))
            try:
                return raw.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                raise CodecError("a string buffer is not UTF-8") from None
        if tag in ("module", "handle"):
            if type(tree.get("id")) is not int:
                raise CodecError(f"{tag} without id")
            if tag == "module":
                module = self.resolve_module(_str(tree, "name")[:200])
                if module is not None:
                    return module
                meta = {"type": "module", "repr": f"<module {tree['name'][:100]!r}>", "callable": False}
            else:
                meta = {"type": str(tree.get("type", ""))[:200], "repr": str(tree.get("repr", ""))[:200],
                        "callable": tree.get("callable") is True}
            return self.make_handle({"id": tree["id"], **meta})
        if tag in ("ndarray", "npscalar", "npdtype"):
            import numpy as np

            if tag == "npdtype":
                return np.dtype(_dtype(tree, "name", NUMPY_DTYPES))
            dtype = np.dtype(_dtype(tree, "dtype", NUMPY_DTYPES))
            shape = _shape(tree) if tag == "ndarray" else []
            raw = self.buffer(tree)
            if len(raw) != _count(shape) * dtype.itemsize:
                raise CodecError("array buffer does not match its shape")
            self.charge(0, 128 + len(raw))
            arr = self.array(np, raw, dtype, shape)
            return arr if tag == "ndarray" else arr[()]
        if tag in ("tensor", "size", "dtype", "device"):
            import torch

            if tag == "size":
                items = tree.get("v")
                if type(items) is not list or len(items) > 64 or not all(type(i) is int and 0 <= i < 1 << 62
                                                                           for i in items):
                    raise CodecError("bad torch.Size")
                return torch.Size(items)
            if tag == "dtype":
                return getattr(torch, _dtype(tree, "name", TORCH_DTYPES))
            if tag == "device":
                name = _str(tree, "name")
                try:
                    return torch.device(name[:100])
                except (RuntimeError, ValueError, TypeError):
                    raise CodecError(f"{name[:40]!r} is not a device") from None
            return self.tensor(tree, torch, 0)
        raise CodecError(f"unknown tag {str(tag)[:40]!r}")

    def hashing(self, build):
        try:
            return build()
        except TypeError:  # an unhashable key or set member (a list, say): not something encode makes
            raise CodecError("a dict key or set member is not hashable") from None

    def number(self, convert, text: str):
        if len(text) > 400:
            raise CodecError("a number written with more than 400 characters")
        try:
            return convert(text)
        except ValueError:
            raise CodecError(f"{text[:40]!r} is not a number") from None

    def buffer(self, tree) -> bytes:
        return _buffer(tree, self.buffers)

    def array(self, np, raw: bytes, dtype, shape):
        try:
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        except (ValueError, TypeError, OverflowError):
            raise CodecError("an array shape numpy cannot make") from None

    def tensor(self, tree, torch, depth: int):
        import numpy as np

        if type(tree) is not dict or tree.get("$") != "tensor":
            raise CodecError("a gradient that is not a tensor")
        name = _dtype(tree, "dtype", TORCH_DTYPES)
        dtype = np.dtype("float32" if name == "bfloat16" else name)
        shape = _shape(tree)
        raw = self.buffer(tree)
        if len(raw) != _count(shape) * dtype.itemsize:
            raise CodecError("tensor buffer does not match its shape")
        self.charge(1, 256 + len(raw) * (2 if name == "bfloat16" else 1))
        tensor = torch.from_numpy(self.array(np, raw, dtype, shape))
        if name == "bfloat16":
            tensor = tensor.to(torch.bfloat16)
        if tree.get("param") is True:
            if not (tensor.is_floating_point() or tensor.is_complex()) and tree.get("requires_grad") is True:
                raise CodecError("an integer parameter that requires a gradient")
            tensor = torch.nn.Parameter(tensor, requires_grad=tree.get("requires_grad") is True)
        elif tree.get("requires_grad") is True and tensor.is_floating_point():
            tensor.requires_grad_(True)
        grad = tree.get("grad")
        if grad is not None:
            if depth > 4:
                raise CodecError("depth: gradient nested too deeply")
            grad = self.tensor(grad, torch, depth + 1)
            try:
                tensor.grad = grad
            except (RuntimeError, TypeError):
                raise CodecError("a gradient that does not fit its tensor") from None
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
    if type(shape) is not list or len(shape) > 32 or not all(type(s) is int and 0 <= s < 1 << 62 for s in shape):
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
