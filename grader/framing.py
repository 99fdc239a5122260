"""Framing of the wire format: length-prefixed JSON messages, size-checked; no numpy needed.

The values inside the messages are described by grader.transport.
"""
from __future__ import annotations

import json
import os
import struct

MAX_FRAME = 64 * 1024 * 1024          # a bigger answer is refused, not buffered
MAX_TEXT = 2000                        # strings (messages, tracebacks) are cut to this
_HEADER = struct.Struct(">I")

# bound at import, before any student code exists (the child's harness frames with these)
_pack_header, _len, _os_write, _memoryview = _HEADER.pack, len, os.write, memoryview
try:   # the C encoder calls no Python-level code that a submission could patch (json.encoder, builtins)
    from json.encoder import c_make_encoder as _make_encoder, encode_basestring_ascii as _escape
    _c_encode = _make_encoder(None, None, _escape, None, ":", ",", False, False, False)
except (ImportError, TypeError):
    _c_encode = None


class TransportError(Exception):
    """A frame or a value that does not follow the format (sent by a confused or hostile child)."""


def pack(message: dict) -> bytes:
    text = "".join(_c_encode(message, 0)) if _c_encode else json.dumps(message, separators=(",", ":"))
    body = text.encode("utf-8")
    return _pack_header(_len(body)) + body


def write_frame(fd: int, message: dict) -> None:
    data = _memoryview(pack(message))
    while data:
        data = data[_os_write(fd, data):]


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
