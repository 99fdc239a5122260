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


_scan = json.decoder.JSONDecoder().scan_once     # json.loads without its per-call checks


def parse(body: bytes) -> dict:
    """One frame's JSON object; TransportError for anything else (a hostile child's bytes too:
    invalid UTF-8, trailing data, nesting deep enough to exhaust the recursion limit)."""
    try:
        text = body.decode("utf-8")
        frame, end = _scan(text, 0)
    except StopIteration:
        raise TransportError("malformed message: not JSON") from None
    except (ValueError, RecursionError) as exc:
        raise TransportError(f"malformed message: {type(exc).__name__}: {str(exc)[:200]}") from None
    if end != len(text):
        raise TransportError("malformed message: data after the JSON value")
    if type(frame) is not dict:
        raise TransportError("a message is not an object")
    return frame


class FrameReader:
    """Accumulates bytes from a pipe and yields complete, size-checked JSON frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[dict]:
        buffer = self._buffer
        buffer += chunk
        frames, offset, available = [], 0, len(buffer)
        try:
            while available - offset >= _HEADER.size:
                (size,) = _HEADER.unpack_from(buffer, offset)
                if size > MAX_FRAME:
                    raise TransportError(f"a message of {size} bytes exceeds the {MAX_FRAME} byte limit")
                end = offset + _HEADER.size + size
                if end > available:
                    break
                frames.append(parse(bytes(buffer[offset + _HEADER.size:end])))
                offset = end
        finally:
            del buffer[:offset]
        return frames


# ---- markers in the captured output ----------------------------------------------------------
# After each call the harness writes a marker into the student's stdout pipe, so the grader can
# tell which call printed what however the two pipes were read. A student who forges one only
# moves their own output between their own cases (hidden cases run in a separate process).

MARK_OPEN, MARK_CLOSE = b"\x1e\x1fgrader-mark:", b"\x1f\x1e"
_LONGEST_LABEL = 24


def output_mark(label: str) -> bytes:
    return MARK_OPEN + label.encode("ascii") + MARK_CLOSE


class OutputSplitter:
    """Splits captured output at the markers: feed(chunk) -> [(text, label that ends it or None)]."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[tuple[bytes, str | None]]:
        data, pieces = self._pending + chunk, []
        while True:
            start = data.find(MARK_OPEN)
            if start < 0:
                break
            end = data.find(MARK_CLOSE, start + len(MARK_OPEN), start + len(MARK_OPEN) + _LONGEST_LABEL + 1)
            if end < 0:
                if len(data) - start < len(MARK_OPEN) + _LONGEST_LABEL + len(MARK_CLOSE):
                    break                          # a marker cut by the read: wait for the rest
                pieces.append((data[:start + 1], None))   # not a marker after all: plain text
                data = data[start + 1:]
                continue
            label = data[start + len(MARK_OPEN):end].decode("ascii", "replace")
            pieces.append((data[:start], label))
            data = data[end + len(MARK_CLOSE):]
        keep = _partial_mark(data)
        pieces.append((data[:len(data) - keep], None))
        self._pending = data[len(data) - keep:]
        return [(text, label) for text, label in pieces if text or label is not None]


def _partial_mark(data: bytes) -> int:
    """How many bytes at the end of `data` may start a marker (kept until more arrives)."""
    start = data.find(MARK_OPEN)
    if start >= 0:
        return len(data) - start
    for size in range(min(len(MARK_OPEN) - 1, len(data)), 0, -1):
        if MARK_OPEN.startswith(data[-size:]):
            return size
    return 0
