"""What a forked student process runs: harden, import the submission once, call entries, send data.

The harness reports data, never verdicts. It binds what it needs at import time (in the fork
server, before any student code exists), so a submission that patches builtins, numpy or json
can only change the data it sends, which is no more than returning a different answer.
"""
from __future__ import annotations

import builtins
import linecache
import os
import sys
import time
import traceback
import types

import numpy as np

from grader import framing, transport
from grader.sandbox import hardening, payload

_write_frame = transport.write_frame
_encode = transport.encode
_decode = transport.decode
_exit = os._exit
_BaseException = BaseException
_format_tb = traceback.extract_tb
_callable = builtins.callable
_sorted = builtins.sorted
_dir = builtins.dir
_np_array = np.array
_linecache = linecache.cache
_isinstance, _str, _type, _list, _enumerate, _len, _compile, _exec = (
    isinstance, str, type, list, enumerate, len, compile, exec)
_SyntaxError, _MemoryError, _ModuleType, _dict = SyntaxError, MemoryError, types.ModuleType, dict
_basename = os.path.basename
_write, _output_mark = os.write, framing.output_mark
_clock = time.perf_counter
_builtins_dict = builtins.__dict__

MODULE_NAME = "solution"


def _student_traceback(exc: BaseException, filename: str) -> list[str]:
    """Only the student's own frames: the grader's internals are none of their business."""
    lines = []
    try:
        for frame in _format_tb(exc.__traceback__):
            if frame.filename == filename:
                lines.append(f'  File "{_basename(filename)}", line {frame.lineno}, in {frame.name}'
                             + (f"\n    {frame.line}" if frame.line else ""))
    except _BaseException:      # a patched traceback or linecache module: no lines, same verdict
        pass
    return lines[-8:]


def _describe(exc: BaseException, filename: str) -> dict:
    """Type name and message text: the only form in which an exception leaves the child."""
    try:
        message = _str(exc)[: transport.MAX_TEXT]
    except _BaseException:
        message = "<the exception's message could not be shown>"
    # numpy's _ArrayMemoryError and friends: the parent words every one as the memory limit
    kind = "MemoryError" if _isinstance(exc, _MemoryError) else _type.__getattribute__(_type(exc), "__name__")
    try:
        if _isinstance(exc, _SyntaxError) and exc.lineno:
            message = f"{exc.msg} (line {exc.lineno})"
    except _BaseException:
        pass
    return {"type": _str(kind), "message": _str(message), "traceback": _student_traceback(exc, filename)}


def build_argument(node, functions):
    """Inputs arrive as plain data; functions by name are built from the registry (fresh each call)."""
    if _isinstance(node, _dict) and "__fn__" in node:
        return functions(node["__fn__"])
    if _isinstance(node, _dict) and node.get("__seq__") == "list":
        items = node["items"]
        if [item for item in items if _isinstance(item, _dict) and "__fn__" in item]:
            return [build_argument(item, functions) for item in items]
    return _decode(node)


def read_payload(fd: int) -> dict:
    """The submission and its calls, from the file the grader handed over (read before hardening,
    so it does not count against the student's memory limit)."""
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return payload.unpack(b"".join(chunks))


def run(job: dict, result_fd: int, output_fd: int, payload_fd: int, functions) -> None:
    """Entry point in the child; never returns."""
    try:
        job.update(read_payload(payload_fd))
        report = hardening.harden(job, result_fd, output_fd)
        _write_frame(result_fd, {"t": "ready", "protections": report.active, "inactive": report.inactive})
    except _BaseException as exc:  # the sandbox could not be set up: say so, run nothing
        _write_frame(result_fd, {"t": "sandbox_error", "message": f"{_type(exc).__name__}: {exc}"})
        _exit(3)
    try:
        _grade(job, result_fd, functions)
    except _BaseException:  # the student broke the channel (closed fds, ...): the parent sees it
        _exit(4)
    _exit(0)


def _swap_builtins(replacement: dict) -> dict:
    """Put `replacement` in place of the builtins; returns what was there (the student's patches)."""
    current = _dict(_builtins_dict)
    _builtins_dict.clear()
    _builtins_dict.update(replacement)
    return current


def _grade(job: dict, result_fd: int, functions) -> None:
    """Import the submission, then call each entry; the harness's own work runs on clean builtins."""
    clean = _dict(_builtins_dict)
    filename = job["filename"]
    module = _ModuleType(MODULE_NAME)
    module.__file__ = filename
    sys.modules[MODULE_NAME] = module
    # tracebacks show the student's lines without reading the file (unreadable after the uid drop)
    _linecache[filename] = (_len(job["source"]), None, job["source"].splitlines(True), filename)
    try:
        code = _compile(job["source"], filename, "exec", dont_inherit=True)
        _exec(code, module.__dict__)
    except _BaseException as exc:
        _swap_builtins(clean)
        _mark("import")
        _write_frame(result_fd, {"t": "import_error", **_describe(exc, filename)})
        return
    student = _swap_builtins(clean)
    _mark("import")
    namespace = module.__dict__
    defined = _sorted(name for name in _list(namespace) if _isinstance(name, _str) and not name.startswith("_")
                      and _callable(namespace[name]) and not _isinstance(namespace[name], _ModuleType))
    _write_frame(result_fd, {"t": "imported", "functions": defined[:200]})
    exercise = None
    for index, call in _enumerate(job["calls"]):
        if call.get("e") != exercise:      # the parent's time limit is per exercise
            exercise = call.get("e")
            _write_frame(result_fd, {"t": "start", "i": index})
        function = namespace.get(call["entry"])
        started = _clock()
        try:
            args = [build_argument(node, functions) for node in call["args"]]
            _swap_builtins(student)
            try:
                value = function(*args)
            finally:
                student = _swap_builtins(clean)
            seconds = _clock() - started
            encoded = _encode(value)
            _mark(_str(index))
            _write_frame(result_fd, {"t": "result", "i": index, "s": seconds, "value": encoded})
        except _BaseException as exc:
            seconds = _clock() - started
            _mark(_str(index))
            _write_frame(result_fd, {"t": "error", "i": index, "s": seconds, **_describe(exc, filename)})
    _write_frame(result_fd, {"t": "done"})


def _mark(label: str) -> None:
    """Tell the grader where this call's output ends (see grader.framing.OutputSplitter)."""
    _flush()
    try:
        _write(1, _output_mark(label))
    except _BaseException:      # the student closed or replaced stdout: their output, their loss
        pass


def _flush() -> None:
    for stream in (sys.__stdout__, sys.__stderr__, sys.stdout, sys.stderr):
        try:
            stream.flush()
        except _BaseException:
            pass
