"""What only the child reads: the submission and its calls, marshalled (the grader writes it, the
child reads it before any student code exists; nothing is ever unmarshalled from a child).

The calls of a prepared exercise set are the same for every student of a batch, so their
marshalled form is made once and reused (the child parses one marshal blob, no JSON, no base64).
"""
from __future__ import annotations

import marshal
import threading

_VERSION = 4
_CACHE: dict[tuple, tuple[list, bytes]] = {}
_LOCK = threading.Lock()


def calls_blob(exercises: list, index: list[tuple[int, int]]) -> bytes:
    """The marshalled calls (entry, encoded args, exercise) for `index`, cached per set of calls
    lists (the entry keeps the lists alive, so their ids stay theirs)."""
    remaining = sorted({e for e, _ in index})
    lists = [exercises[e].calls for e in remaining]
    key = tuple(zip(remaining, map(id, lists))) + (len(index),)
    with _LOCK:
        found = _CACHE.get(key)
    if found is not None and all(a is b for a, b in zip(found[0], lists)):
        return found[1]
    # "e" lets the child announce only the first call of each exercise (fewer frames)
    blob = marshal.dumps([(exercises[e].calls[c].entry, exercises[e].calls[c].args, e) for e, c in index], _VERSION)
    with _LOCK:
        if len(_CACHE) >= 64:
            _CACHE.clear()
        _CACHE[key] = (lists, blob)
    return blob


def pack(source: str, filename: str, calls: bytes) -> bytes:
    return marshal.dumps((source, filename, calls), _VERSION)


def unpack(data: bytes) -> dict:
    """In the child: {"source", "filename", "calls": [{"entry", "args", "e"}]}."""
    source, filename, calls = marshal.loads(data)
    return {"source": source, "filename": filename,
            "calls": [{"entry": entry, "args": args, "e": e} for entry, args, e in marshal.loads(calls)]}
