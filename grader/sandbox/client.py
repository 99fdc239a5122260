"""The grader's side of the sandbox: starts the fork server, runs one submission's calls in a
child, enforces wall-time limits, captures bounded output, and restarts after a crash or timeout
so that one exercise never spoils another's verdict."""
from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from grader import transport
from grader.errors import GraderError
from grader.sandbox.limits import Limits

_BOOT = ("import sys, json; sys.path[:0] = json.loads(sys.argv[2]); "
         "from grader.sandbox import zygote; zygote.main(sys.argv[1:2])")
_KEEP_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "SYSTEMROOT")


class SandboxError(GraderError):
    """The sandbox itself could not run (not the student's fault)."""


@dataclass
class CallSpec:
    entry: str
    args: list                     # encoded with transport.encode_input


@dataclass
class ExerciseRun:
    calls: list[CallSpec]
    limits: Limits


@dataclass
class CallOutcome:
    status: str                    # ok | error | timeout | crashed | not_run
    value: Any = None              # decoded plain data (status ok)
    error: dict | None = None      # {"type", "message", "traceback"} or a sandbox explanation
    output: str = ""
    seconds: float = 0.0


@dataclass
class RunOutcome:
    outcomes: list[list[CallOutcome]]
    functions: list[str] | None = None     # callables the submission defines (None: never imported)
    import_problem: CallOutcome | None = None
    output: str = ""
    output_dropped: int = 0
    protections: list[str] = field(default_factory=list)


def describe_exit(status: int | None, limits: Limits) -> str:
    if status is None:
        return "the process stopped answering"
    if status < 0:
        sig = -status
        if sig == signal.SIGXCPU:
            return f"CPU time limit exceeded ({limits.cpu or limits.wall:g} s)"
        if sig == signal.SIGXFSZ:
            return f"file size limit exceeded ({limits.file_size} bytes)"
        if sig == signal.SIGKILL:
            return "the process was killed (SIGKILL): a resource limit was hit"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        detail = {"SIGSEGV": "segmentation fault", "SIGABRT": "aborted", "SIGBUS": "bus error",
                  "SIGFPE": "floating-point exception"}.get(name, "")
        return f"the process crashed ({name}{': ' + detail if detail else ''})"
    return f"the process exited with code {status} before answering (os._exit or a crash)"


class Sandbox:
    """One fork server; `run` grades one submission at a time. Start it before loading exercises."""

    def __init__(self) -> None:
        parent_end, child_end = socket.socketpair()
        env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
        env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        paths = [os.path.abspath(p) for p in sys.path if p]
        self.process = subprocess.Popen(
            [sys.executable, "-B", "-I", "-c", _BOOT, str(child_end.fileno()), json.dumps(paths)],
            pass_fds=[child_end.fileno()], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
        child_end.close()
        self.control = parent_end
        self.reader = transport.FrameReader()
        self.inbox: list[dict] = []
        self.ready = False

    # ---- control channel ----------------------------------------------------------------------

    def _receive(self, timeout: float | None) -> bool:
        """Read what the zygote sent (wait at most `timeout`); False when it is gone."""
        self.control.settimeout(timeout)
        try:
            data = self.control.recv(65536)
        except (socket.timeout, BlockingIOError):
            return True
        except OSError:
            return False
        if not data:
            return False
        self.inbox += self.reader.feed(data)
        return True

    def _wait_for(self, op: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.inbox:
                if message.get("op") == op:
                    self.inbox.remove(message)
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._receive(remaining):
                raise SandboxError("the sandbox's fork server did not start: " + self._stderr())
            # loop: look at what arrived

    def _stderr(self) -> str:
        if self.process.poll() is None:
            return "no answer"
        text = self.process.stderr.read().decode("utf-8", "replace") if self.process.stderr else ""
        return text.strip().splitlines()[-1] if text.strip() else f"exit code {self.process.returncode}"

    def wait_ready(self) -> None:
        if not self.ready:
            self._wait_for("ready")
            self.ready = True

    def close(self) -> None:
        try:
            self.control.sendall(transport.pack({"op": "quit"}))
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.control.close()
        if self.process.stderr:
            self.process.stderr.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- one submission -----------------------------------------------------------------------

    def run(self, source: str, filename: str, exercises: list[ExerciseRun],
            import_timeout: float = 10.0) -> RunOutcome:
        """Every call of every exercise, with restarts after a timeout or crash."""
        self.wait_ready()
        result = RunOutcome(outcomes=[[CallOutcome("not_run") for _ in ex.calls] for ex in exercises])
        remaining = [i for i, ex in enumerate(exercises) if ex.calls]
        while remaining:
            remaining = _Attempt(self, source, filename, exercises, remaining, import_timeout,
                                 result).run()
        return result

    def _start(self, job: dict) -> tuple[int, int, int]:
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        message = transport.pack({"op": "run", "job": job})
        socket.send_fds(self.control, [message[:1]], [result_w, output_w])
        self.control.sendall(message[1:])
        os.close(result_w)
        os.close(output_w)
        started = self._wait_for("started")
        return started["pid"], result_r, output_r

    def _kill(self, pid: int) -> None:
        try:
            self.control.sendall(transport.pack({"op": "kill", "pid": pid}))
        except OSError:
            pass


class _Attempt:
    """One child process working through the remaining exercises; returns what is left to run."""

    def __init__(self, sandbox: Sandbox, source: str, filename: str, exercises: list[ExerciseRun],
                 remaining: list[int], import_timeout: float, result: RunOutcome) -> None:
        self.sandbox, self.exercises, self.result = sandbox, exercises, result
        self.remaining = remaining
        self.index: list[tuple[int, int]] = [(e, c) for e in remaining for c in range(len(exercises[e].calls))]
        limits = self._limits()
        self.limits = limits
        cpu = limits.cpu or (import_timeout + sum(exercises[e].limits.wall for e in remaining))
        self.job = {"source": source, "filename": filename, "limits": limits.as_dict(),
                    "cpu_seconds": cpu,
                    "calls": [{"entry": exercises[e].calls[c].entry, "args": exercises[e].calls[c].args}
                              for e, c in self.index]}
        self.import_timeout = import_timeout
        self.frames = transport.FrameReader()
        self.current: int | None = None       # exercise being run
        self.call_started = 0.0
        self.output_mark = 0

    def _limits(self) -> Limits:
        chosen = [self.exercises[e].limits for e in self.remaining]
        first = chosen[0]
        return first.with_overrides(memory=max(l.memory for l in chosen),
                                    wall=max(l.wall for l in chosen))

    # -- output capture --
    def _take_output(self, chunk: bytes) -> None:
        kept = len(self.result.output.encode("utf-8", "replace"))
        room = max(0, self.limits.output - kept)
        if room:
            self.result.output += chunk[:room].decode("utf-8", "replace")
        self.result.output_dropped += max(0, len(chunk) - room)

    def _output_since_mark(self) -> str:
        text = self.result.output[self.output_mark:]
        self.output_mark = len(self.result.output)
        return text

    def run(self) -> list[int]:
        pid, result_r, output_r = self.sandbox._start(self.job)
        selector = selectors.DefaultSelector()
        selector.register(output_r, selectors.EVENT_READ, "output")
        selector.register(result_r, selectors.EVENT_READ, "result")
        deadline = time.monotonic() + self.import_timeout
        phase = "import"
        exit_status: int | None = None
        exited = False
        try:
            while True:
                timeout = max(0.0, deadline - time.monotonic()) if deadline else None
                wait = 0.05 if timeout is None else min(timeout, 0.05)
                events = selector.select(wait)
                # output first, so prints land before the result that followed them
                for key, _ in sorted(events, key=lambda kv: kv[0].data != "output"):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        selector.unregister(key.fd)
                        continue
                    if key.data == "output":
                        self._take_output(chunk)
                        continue
                    try:
                        frames = self.frames.feed(chunk)
                    except transport.TransportError as exc:
                        self.sandbox._kill(pid)
                        return self._abandon(phase, "crashed", f"sent malformed data: {exc}")
                    for frame in frames:
                        outcome = self._on_frame(frame)
                        if outcome == "imported":
                            phase, deadline = "run", None
                        elif outcome == "started":
                            e = self.current
                            if deadline is None or self._exercise_changed:
                                deadline = time.monotonic() + self.exercises[e].limits.wall
                        elif outcome in ("done", "import_failed"):
                            return []
                        elif outcome == "sandbox_error":
                            return []
                if not exited:
                    exited, exit_status = self._poll_exit(pid)
                if exited and not events:
                    return self._abandon(phase, "crashed", describe_exit(exit_status, self.limits))
                if deadline is not None and time.monotonic() > deadline:
                    self.sandbox._kill(pid)
                    return self._abandon(phase, "timeout", None)
        finally:
            selector.close()
            os.close(result_r)
            os.close(output_r)
            if not exited:
                self.sandbox._kill(pid)

    def _poll_exit(self, pid: int) -> tuple[bool, int | None]:
        self.sandbox._receive(0)
        for message in list(self.sandbox.inbox):
            if message.get("op") == "exited":
                self.sandbox.inbox.remove(message)
                if message.get("pid") == pid:
                    return True, message.get("status")
        return False, None

    _exercise_changed = False

    def _on_frame(self, frame: dict) -> str:
        kind = frame.get("t")
        if kind == "ready":
            self.result.protections = [str(p) for p in frame.get("protections", [])][:50]
        elif kind == "sandbox_error":
            problem = CallOutcome("error", error={"type": "SandboxError",
                                                  "message": str(frame.get("message"))[:500]})
            self._fill_remaining(problem)
            return "sandbox_error"
        elif kind == "import_error":
            self.result.functions = []
            self.result.import_problem = CallOutcome("error", error=_clean_error(frame),
                                                     output=self._output_since_mark())
            self._fill_remaining(self.result.import_problem)
            return "import_failed"
        elif kind == "imported":
            names = frame.get("functions")
            self.result.functions = [str(n) for n in names][:200] if isinstance(names, list) else []
            return "imported"
        elif kind == "start":
            e, c = self._position(frame)
            self._exercise_changed = e != self.current
            self.current = e
            self.call_started = time.monotonic()
            self._output_since_mark()
            return "started"
        elif kind in ("result", "error"):
            e, c = self._position(frame)
            seconds = time.monotonic() - self.call_started
            if kind == "result":
                try:
                    value = transport.decode(frame.get("value"))
                    outcome = CallOutcome("ok", value=value)
                except transport.TransportError as exc:
                    outcome = CallOutcome("error", error={"type": "TransportError", "message": str(exc)})
            else:
                outcome = CallOutcome("error", error=_clean_error(frame))
            outcome.output, outcome.seconds = self._output_since_mark(), seconds
            self.result.outcomes[e][c] = outcome
        elif kind == "done":
            return "done"
        return kind or ""

    def _position(self, frame: dict) -> tuple[int, int]:
        i = frame.get("i")
        if type(i) is not int or not 0 <= i < len(self.index):
            raise transport.TransportError("a message names a call that does not exist")
        return self.index[i]

    def _fill_remaining(self, outcome: CallOutcome) -> None:
        for e in self.remaining:
            for c, existing in enumerate(self.result.outcomes[e]):
                if existing.status == "not_run":
                    self.result.outcomes[e][c] = CallOutcome(outcome.status, error=outcome.error)

    def _abandon(self, phase: str, status: str, reason: str | None) -> list[int]:
        """The child is gone or killed: settle the exercise it was in, return the ones after it."""
        if phase == "import":
            message = (f"importing the file did not finish within {self.import_timeout:g} s"
                       if status == "timeout" else f"importing the file failed: {reason}")
            self.result.functions = self.result.functions or []
            self.result.import_problem = CallOutcome(status, error={"type": status, "message": message},
                                                     output=self._output_since_mark())
            self._fill_remaining(self.result.import_problem)
            return []
        e = self.current
        if e is None:   # died between import and the first call
            e = self.remaining[0]
        wall = self.exercises[e].limits.wall
        message = f"did not finish within {wall:g} s (time limit)" if status == "timeout" else reason
        output = self._output_since_mark()
        for c, existing in enumerate(self.result.outcomes[e]):
            if existing.status == "not_run":
                self.result.outcomes[e][c] = CallOutcome(status, error={"type": status, "message": message},
                                                         output=output)
                output = ""
        position = self.remaining.index(e)
        return self.remaining[position + 1:]


def _clean_error(frame: dict) -> dict:
    traceback_lines = frame.get("traceback")
    return {"type": str(frame.get("type", "Exception"))[:100],
            "message": str(frame.get("message", ""))[:transport.MAX_TEXT],
            "traceback": [str(line)[:500] for line in traceback_lines][:20]
            if isinstance(traceback_lines, list) else []}
