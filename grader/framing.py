"""Framing of the wire format: length-prefixed JSON messages, size-checked; no numpy needed.

The values inside the messages are described by grader.transport.
"""
from __future__ import annotations

import json
import os
import re
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
    """Splits captured output at the markers: feed(chunk) -> [(text, label that ends it or None)].
    A marker's label is at most 23 bytes; an opening cut off by the read waits for the rest."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[tuple[bytes, str | None]]:
        data = self._pending + chunk if self._pending else chunk
        pieces, position = [], 0
        for match in _MARK.finditer(data):       # one C scan: most runs print nothing but markers
            pieces.append((data[position:match.start()], match.group(1).decode("ascii", "replace")))
            position = match.end()
        end = len(data) - _partial_mark(data, position)
        if end > position:
            pieces.append((data[position:end], None))
        self._pending = data[end:]
        return pieces


_MARK = re.compile(re.escape(MARK_OPEN) + rb"(.{0,%d}?)" % (_LONGEST_LABEL - 1) + re.escape(MARK_CLOSE), re.DOTALL)
_WINDOW = len(MARK_OPEN) + _LONGEST_LABEL + len(MARK_CLOSE)


def _partial_mark(data: bytes, after: int) -> int:
    """How many bytes at the end of `data` (past `after`) may start a marker that the next read
    completes: an opening too close to the end to tell, or the start of one."""
    start = data.find(MARK_OPEN, max(after, len(data) - _WINDOW + 1))
    if start >= 0:
        return len(data) - start
    for size in range(min(len(MARK_OPEN) - 1, len(data) - after), 0, -1):
        if MARK_OPEN.startswith(data[-size:]):
            return size
    return 0
