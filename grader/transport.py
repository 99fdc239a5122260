"""The wire format between student processes and the grader: length-prefixed JSON, plain data only.

Nothing received is ever unpickled or evaluated. Arrays travel as dtype + shape + base64 bytes and
are rebuilt by the receiver with `np.frombuffer`; the receiver validates every field.
"""
from __future__ import annotations

import base64
import json
import os
import struct
from typing import Any

import numpy as np

MAX_FRAME = 64 * 1024 * 1024          # a bigger answer is refused, not buffered
MAX_TEXT = 2000                        # strings (messages, tracebacks) are cut to this
_HEADER = struct.Struct(">I")
_ALLOWED_DTYPES = {"float64", "float32", "float16", "int8", "int16", "int32", "int64",
                   "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128"}


class TransportError(Exception):
    """A frame or a value that does not follow the format (sent by a confused or hostile child)."""


# ---- encoding (used on both sides; in the child with references captured before student code) --

def encode(value: Any, _depth: int = 0) -> Any:
    """A JSON-able description of `value`; unknown objects become {'__object__': type name}."""
    if _depth > 32:
        return {"__object__": "nesting deeper than 32 levels"}
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value if kind is not str else value[:MAX_TEXT]
    if kind is int:
        return float(value) if abs(value) < 2 ** 1023 else {"__object__": "int too large"}
    if kind is float:
        return {"__float__": repr(value)} if value != value or value in (float("inf"), float("-inf")) else value
    if kind is complex:
        return {"__complex__": [repr(value.real), repr(value.imag)]}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        return _encode_array(value)
    if kind is list or kind is tuple:
        return {"__seq__": "tuple" if kind is tuple else "list",
                "items": [encode(item, _depth + 1) for item in value]}
    return {"__object__": _type_name(value)}


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{type.__getattribute__(kind, '__module__')}.{type.__getattribute__(kind, '__qualname__')}"[:200]


def _encode_array(value: Any) -> dict:
    # Read the raw buffer through ndarray's own C methods: a subclass cannot override these calls.
    base = np.asarray(value) if isinstance(value, np.generic) else np.ndarray.view(value, np.ndarray)
    dtype = str(base.dtype)
    if dtype not in _ALLOWED_DTYPES:
        return {"__object__": f"numpy array of dtype {dtype}"}
    shape = list(base.shape)            # before ascontiguousarray, which makes 0-d arrays 1-d
    data = np.ascontiguousarray(base)
    return {"__nd__": dtype, "shape": shape,
            "data": base64.b64encode(np.ndarray.tobytes(data)).decode("ascii")}


# ---- decoding (parent side): validate everything, rebuild only plain values --------------------

def decode(node: Any, _depth: int = 0) -> Any:
    """Rebuild a value from its description; raises TransportError on anything malformed."""
    if _depth > 40:
        raise TransportError("value nested too deeply")
    if node is None or isinstance(node, (bool, float, str)):
        return node
    if isinstance(node, int):
        return float(node)
    if not isinstance(node, dict):
        raise TransportError(f"unexpected {type(node).__name__} in a value")
    if "__float__" in node:
        text = node["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise TransportError("malformed special float")
        return float(text)
    if "__complex__" in node:
        re_, im = node["__complex__"]
        return complex(float(re_), float(im))
    if "__seq__" in node:
        items = [decode(item, _depth + 1) for item in _as_list(node.get("items"))]
        return tuple(items) if node["__seq__"] == "tuple" else items
    if "__nd__" in node:
        return _decode_array(node)
    if "__object__" in node:
        return Opaque(str(node["__object__"])[:200])
    if "__fn__" in node:
        return FunctionRef(str(node["__fn__"]))
    raise TransportError("unknown value tag")


def _as_list(items: Any) -> list:
    if not isinstance(items, list):
        raise TransportError("malformed sequence")
    return items


def _decode_array(node: dict) -> np.ndarray:
    dtype, shape, data = node.get("__nd__"), node.get("shape"), node.get("data")
    if dtype not in _ALLOWED_DTYPES or not isinstance(data, str) or not isinstance(shape, list):
        raise TransportError("malformed array")
    if len(shape) > 32 or not all(type(n) is int and 0 <= n for n in shape):
        raise TransportError("malformed array shape")
    raw = base64.b64decode(data.encode("ascii"), validate=True)
    itemsize = np.dtype(dtype).itemsize
    count = 1
    for n in shape:
        count *= n
    if count * itemsize != len(raw):
        raise TransportError("array data does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


class Opaque(str):
    """Stands for an object the child could not describe as plain data (its type name only)."""


class FunctionRef(str):
    """A function handed to student code, by its registered name or formula in `x`."""


def encode_input(value: Any) -> Any:
    """Inputs for the child: like `encode`, plus function references."""
    if isinstance(value, FunctionRef):
        return {"__fn__": str(value)}
    if isinstance(value, (list, tuple)) and any(isinstance(v, FunctionRef) for v in value):
        return {"__seq__": "list", "items": [encode_input(v) for v in value]}
    return encode(value)


# ---- framing -----------------------------------------------------------------------------------

def pack(message: dict) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def write_frame(fd: int, message: dict) -> None:
    data = memoryview(pack(message))
    while data:
        data = data[os.write(fd, data):]


class FrameReader:
    """Accumulates bytes from a pipe and yields complete, size-checked JSON frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[dict]:
        self._buffer += chunk
        frames = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise TransportError(f"a message of {size} bytes exceeds the {MAX_FRAME} byte limit")
            if len(self._buffer) < _HEADER.size + size:
                break
            body = bytes(self._buffer[_HEADER.size:_HEADER.size + size])
            del self._buffer[:_HEADER.size + size]
            try:
                frame = json.loads(body)
            except ValueError as exc:
                raise TransportError(f"malformed message: {exc}") from None
            if not isinstance(frame, dict):
                raise TransportError("a message is not an object")
            frames.append(frame)
        return frames
