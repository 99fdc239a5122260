"""The wire format between student processes and the grader: length-prefixed JSON, plain data only.

Nothing received is ever unpickled or evaluated. Arrays travel as dtype + shape + base64 bytes and
are rebuilt by the receiver with `np.frombuffer`; the receiver validates every field.
"""
from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

import numpy as np

# framing lives in grader.framing (no numpy: the grader starts its fork server before importing
# numpy); re-exported here because both belong to the wire format
from grader.framing import MAX_FRAME, MAX_TEXT, FrameReader, TransportError, pack, write_frame  # noqa: F401

_ALLOWED_DTYPES = {"float64", "float32", "float16", "int8", "int16", "int32", "int64",
                   "uint8", "uint16", "uint32", "uint64", "bool", "complex64", "complex128"}


# ---- encoding (used on both sides; in the child with references captured before student code) --

# References bound now, before any student code exists: the child's harness encodes with these, so a
# submission that patches builtins, json, base64 or numpy can change only its own answer, not the
# framing or the description of a value.
_type, _isinstance, _len, _str, _repr, _float, _abs = type, isinstance, len, str, repr, float, abs
_ndarray, _generic, _asarray, _contiguous = np.ndarray, np.generic, np.asarray, np.ascontiguousarray
_view, _tobytes = np.ndarray.view, np.ndarray.tobytes
_b64encode = binascii.b2a_base64
_tuple, _all, _complex, _list, _dict, _bool, _int, _bytes = tuple, all, complex, list, dict, bool, int, bytes
_frombuffer = np.frombuffer
_INF, _NINF = float("inf"), float("-inf")
_DTYPE_NAMES = {np.dtype(name): name for name in _ALLOWED_DTYPES}
_ITEMSIZE = {name: np.dtype(name).itemsize for name in _ALLOWED_DTYPES}


def _b64decode(text: str) -> bytes:
    """Strict base64 (only the alphabet, correct padding) in C where Python has it (3.11)."""
    return base64.b64decode(text.encode("ascii"), validate=True)


try:
    binascii.a2b_base64(b"", strict_mode=True)
    _b64decode = functools.partial(binascii.a2b_base64, strict_mode=True)   # noqa: F811
except TypeError:
    pass


def encode(value: Any, _depth: int = 0) -> Any:
    """A JSON-able description of `value`; unknown objects become {'__object__': type name}."""
    if _depth > 32:
        return {"__object__": "nesting deeper than 32 levels"}
    kind = _type(value)
    if value is None or kind is bool or kind is str:
        return value if kind is not str else value[:MAX_TEXT]
    if kind is int:
        return _float(value) if _abs(value) < 2 ** 1023 else {"__object__": "int too large"}
    if kind is float:
        return {"__float__": _repr(value)} if value != value or value in (_INF, _NINF) else value
    if kind is complex:
        return {"__complex__": [_repr(value.real), _repr(value.imag)]}
    if _isinstance(value, _ndarray) or _isinstance(value, _generic):
        return _encode_array(value)
    if kind is list or kind is tuple:
        return {"__seq__": "tuple" if kind is tuple else "list",
                "items": [encode(item, _depth + 1) for item in value]}
    return {"__object__": _type_name(value)}


def _type_name(value: Any) -> str:
    kind = type(value)
    return f"{type.__getattribute__(kind, '__module__')}.{type.__getattribute__(kind, '__qualname__')}"[:200]


def _encode_array(value: Any, raw: bool = False) -> dict:
    """dtype, shape and the bytes: base64 text for JSON ("data"), or as they are ("raw")."""
    # Read the raw buffer through ndarray's own C methods: a subclass cannot override these calls.
    base = _asarray(value) if _isinstance(value, _generic) else _view(value, _ndarray)
    dtype = _DTYPE_NAMES.get(base.dtype)      # a C-level lookup; str(dtype) runs Python code
    if dtype is None:
        return {"__object__": f"numpy array of dtype {_str(base.dtype)}"}
    shape = [*base.shape]   # before ascontiguousarray, which makes 0-d arrays 1-d
    data = _tobytes(_contiguous(base))
    if raw:
        return {"__nd__": dtype, "shape": shape, "raw": data}
    return {"__nd__": dtype, "shape": shape, "data": _b64encode(data, newline=False).decode("ascii")}


# ---- decoding (parent side): validate everything, rebuild only plain values --------------------

def decode(node: Any) -> Any:
    """Rebuild a value from its description; raises TransportError on anything malformed (a
    hostile child's data included: no other exception may reach the grader from here)."""
    try:
        return _decode_node(node, 0)
    except TransportError:
        raise
    except (TypeError, ValueError, OverflowError, RecursionError, MemoryError) as exc:
        raise TransportError(f"malformed value ({type(exc).__name__})") from None


def _decode_node(node: Any, _depth: int) -> Any:
    if _depth > 40:
        raise TransportError("value nested too deeply")
    if node is None or _isinstance(node, (_bool, _float, _str)):
        return node
    if _isinstance(node, _int):
        try:
            return _float(node)
        except OverflowError:
            raise TransportError("an integer too large for a float") from None
    if not _isinstance(node, _dict):
        raise TransportError(f"unexpected {_type(node).__name__} in a value")
    if "__float__" in node:
        text = node["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise TransportError("malformed special float")
        return _float(text)
    if "__complex__" in node:
        parts = node["__complex__"]
        if (_type(parts) is not _list or _len(parts) != 2
                or not _all(_type(part) in (_str, _float, _int) for part in parts)):
            raise TransportError("malformed complex number")
        try:
            return _complex(_float(parts[0]), _float(parts[1]))
        except (ValueError, OverflowError):
            raise TransportError("malformed complex number") from None
    if "__seq__" in node:
        items = [_decode_node(item, _depth + 1) for item in _as_list(node.get("items"))]
        return _tuple(items) if node["__seq__"] == "tuple" else items
    if "__nd__" in node:
        return _decode_array(node)
    if "__object__" in node:
        return Opaque(_str(node["__object__"])[:200])
    if "__fn__" in node:
        return FunctionRef(_str(node["__fn__"]))
    raise TransportError("unknown value tag")


def _as_list(items: Any) -> list:
    if not _isinstance(items, _list):
        raise TransportError("malformed sequence")
    return items


def _decode_array(node: dict) -> np.ndarray:
    dtype, shape, data = node.get("__nd__"), node.get("shape"), node.get("data")
    raw = node.get("raw")       # bytes: only in the grader's own inputs (JSON cannot carry bytes)
    if _type(raw) is not _bytes:
        raw = None
    itemsize = _ITEMSIZE.get(dtype) if _type(dtype) is _str else None
    if (itemsize is None or (raw is None and _type(data) is not _str)
            or _type(shape) is not _list or _len(shape) > 32):
        raise TransportError("malformed array")
    count = extent = 1          # elements, and the product of the non-zero sides (numpy's limit)
    for n in shape:
        if _type(n) is not _int or n < 0:
            raise TransportError("malformed array shape")
        count *= n
        extent *= n or 1
    if extent > MAX_FRAME:
        raise TransportError("array shape too large")
    if raw is None:
        try:
            raw = _b64decode(data)
        except (binascii.Error, ValueError):
            raise TransportError("malformed array data") from None
    if count * itemsize != _len(raw):
        raise TransportError("array data does not match its shape")
    return _frombuffer(raw, dtype=dtype).reshape(shape).copy()


class Opaque(str):
    """Stands for an object the child could not describe as plain data (its type name only)."""


class FunctionRef(str):
    """A function handed to student code, by its registered name or formula in `x`."""


def encode_input(value: Any) -> Any:
    """Inputs for the child, which receives them marshalled (grader.sandbox.payload): like
    `encode`, but arrays carry their raw bytes ("raw") instead of base64 text, and function
    references are allowed."""
    if isinstance(value, FunctionRef):
        return {"__fn__": str(value)}
    if isinstance(value, (list, tuple)) and any(isinstance(v, FunctionRef) for v in value):
        return {"__seq__": "list", "items": [encode_input(v) for v in value]}
    if isinstance(value, (list, tuple)):
        return {"__seq__": "tuple" if isinstance(value, tuple) else "list",
                "items": [encode_input(v) for v in value]}
    if isinstance(value, (np.ndarray, np.generic)):
        return _encode_array(value, raw=True)
    return encode(value)
