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
from typing import Any, Iterable

from grader import framing
from grader.errors import GraderError
from grader.sandbox import hardening, linux, slots
from grader.sandbox.limits import Limits

_BOOT = ("import sys, json; sys.path[:0] = json.loads(sys.argv[2]); "
         "from grader.sandbox import zygote; zygote.main([sys.argv[1], sys.argv[3]])")
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
    inactive: dict[str, str] = field(default_factory=dict)    # protection -> why it was not active
    not_hidden: dict[str, str] = field(default_factory=dict)  # hidden path -> why it could not be


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


def disabled_protections(disable: Iterable[str] | None = None) -> set[str]:
    """Protections switched off: the argument, else GRADER_SANDBOX_DISABLE (comma-separated)."""
    if disable is None:
        disable = [p.strip() for p in os.environ.get("GRADER_SANDBOX_DISABLE", "").split(",") if p.strip()]
    chosen = set(disable)
    unknown = chosen - set(hardening.OPTIONAL)
    if unknown:
        raise SandboxError(f"unknown protection(s) {', '.join(sorted(unknown))}; "
                           f"known: {', '.join(hardening.OPTIONAL)}")
    return chosen


class Sandbox:
    """One fork server; `run` grades one submission at a time. Start it before loading exercises.

    `disable` switches protections off (names in hardening.OPTIONAL), to test the fallback path."""

    def __init__(self, disable: Iterable[str] | None = None) -> None:
        self.disable = disabled_protections(disable)
        self.slot, uid_reason = self._claim_uid()
        self.parent_report = hardening.Report()
        self.parent_report.active.append("separate process")
        # a same-uid child (fallback mode) cannot read this process's memory or environment
        self.parent_report.step(hardening.OPTIONAL["dumpable"], linux.set_not_dumpable,
                                "dumpable" in self.disable)
        self.options = {"uid": self.slot.uid if self.slot else None, "uid_reason": uid_reason,
                        "disable": sorted(self.disable)}
        self._boot()

    def _claim_uid(self) -> tuple[slots.UidSlot | None, str]:
        if "uid" in self.disable:
            return None, "switched off"
        if not hasattr(os, "setresuid") or not sys.platform.startswith("linux"):
            return None, f"not Linux ({sys.platform})"
        if os.geteuid() != 0:
            return None, "not root"
        try:
            return slots.claim_uid(), ""
        except OSError as exc:
            return None, f"no free uid: {exc}"

    def _boot(self) -> None:
        """Start the fork server as a fresh interpreter: it inherits nothing of this process's memory."""
        parent_end, child_end = socket.socketpair()
        env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
        env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        paths = [os.path.abspath(p) for p in sys.path if p]
        # the fork server holds the uid's lock too, so the uid stays claimed while any child may live
        keep = [child_end.fileno()] + ([self.slot.lock_fd] if self.slot else [])
        self.process = subprocess.Popen(
            [sys.executable, "-B", "-I", "-c", _BOOT, str(child_end.fileno()), json.dumps(paths),
             json.dumps(self.options)],
            pass_fds=keep, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
        child_end.close()
        self.control = parent_end
        self.reader = framing.FrameReader()
        self.inbox: list[dict] = []
        self.ready = False
        self.server_report: dict = {}

    def _restart_if_dead(self) -> None:
        """A submission killed the fork server (possible only without the uid drop): start anew."""
        if self.process.poll() is None:
            return
        self._discard_server()
        self._boot()

    def _discard_server(self) -> None:
        self.control.close()
        if self.process.stderr:
            self.process.stderr.close()
        self.process.wait()
        if self.slot:    # its children may have outlived it: kill everything the sandbox uid runs
            subprocess.run(["/bin/sh", "-c", "kill -9 -1"], user=self.slot.uid, group=self.slot.uid,
                           extra_groups=[], env={}, cwd="/", stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)

    @property
    def protections(self) -> tuple[list[str], dict[str, str]]:
        """Protections of the grader and the fork server: (active, {inactive: why})."""
        self.wait_ready()
        active = list(self.server_report.get("protections", []))
        inactive = dict(self.server_report.get("inactive", {}))
        return active, inactive

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
                raise SandboxError("the sandbox's fork server did not answer: " + self._stderr())
            # loop: look at what arrived

    def _stderr(self) -> str:
        if self.process.poll() is None:
            return "no answer"
        text = self.process.stderr.read().decode("utf-8", "replace") if self.process.stderr else ""
        return text.strip().splitlines()[-1] if text.strip() else f"exit code {self.process.returncode}"

    def wait_ready(self) -> None:
        if not self.ready:
            self.server_report = self._wait_for("ready")
            self.ready = True

    def close(self, wait: bool = True) -> None:
        """Stop the fork server. `wait=False` (a command about to exit) returns at once: the server
        still kills and reaps its children and removes its files, and it holds the uid's lock
        until it is gone, so nothing is released early."""
        if self.control.fileno() < 0:
            return
        try:
            self.control.sendall(framing.pack({"op": "quit"}))
        except OSError:
            pass
        if not wait:
            self.control.close()
            if self.process.stderr:
                self.process.stderr.close()
            if self.slot:
                self.slot.release()
            return
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._discard_server()
        if self.slot:
            self.slot.release()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- one submission -----------------------------------------------------------------------

    def run(self, source: str, filename: str, exercises: list[ExerciseRun],
            import_timeout: float = 10.0, hidden_paths: Iterable[str] = ()) -> RunOutcome:
        """Every call of every exercise, with restarts after a timeout or crash.

        `hidden_paths` (files or directories: exercises, model solutions, other submissions) are
        covered by empty mounts for the student's process where a mount namespace is available."""
        self._restart_if_dead()
        self.wait_ready()
        result = RunOutcome(outcomes=[[CallOutcome("not_run") for _ in ex.calls] for ex in exercises])
        hidden = sorted({os.path.abspath(p) for p in hidden_paths})
        remaining = [i for i, ex in enumerate(exercises) if ex.calls]
        while remaining:
            remaining = self._attempt(_Attempt(self, source, filename, exercises, remaining,
                                               import_timeout, result, hidden))
        self._finish()
        self._summarise_protections(result, hidden)
        return result

    def _attempt(self, attempt: "_Attempt") -> list[int]:
        """Run an attempt; if the fork server dies under it (killed by the previous submission in
        fallback mode), start a new server and try once more."""
        for tries_left in (1, 0):
            self._restart_if_dead()
            self.wait_ready()
            try:
                return attempt.run()
            except SandboxError:
                if tries_left == 0 or self._server_alive():
                    raise
        return []

    def _server_alive(self) -> bool:
        try:
            self.process.wait(timeout=2)     # it closed the channel: give it a moment to exit
        except subprocess.TimeoutExpired:
            return True
        return False

    def _finish(self) -> None:
        """Return only when nothing of this submission runs any more (daemons included)."""
        try:
            self.control.sendall(framing.pack({"op": "clean"}))
            self._wait_for("cleaned", timeout=10.0)
        except (OSError, SandboxError):
            if not self._server_alive():
                self._restart_if_dead()
        self.inbox = [m for m in self.inbox if m.get("op") != "exited"]

    def _summarise_protections(self, result: RunOutcome, hidden: list[str]) -> None:
        active, inactive = self.protections
        active = self.parent_report.active + [p for p in active if p not in self.parent_report.active]
        inactive = {**self.parent_report.inactive, **inactive}
        for name in result.protections:          # the child's own steps
            if name not in active:
                active.append(name)
        inactive.update(result.inactive)
        if hidden and not result.not_hidden and hardening.OPTIONAL["mount"] in active:
            active.append("hidden paths")
        elif hidden:
            inactive["hidden paths"] = "; ".join(f"{path}: {why}" for path, why in result.not_hidden.items())
        active.append("output cap")
        result.protections, result.inactive = active, {k: v for k, v in inactive.items() if k not in active}

    def _start(self, job: dict) -> tuple[int, int, int, dict]:
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        _widen_pipe(output_w)
        message = framing.pack({"op": "run", "job": job})
        try:
            socket.send_fds(self.control, [message[:1]], [result_w, output_w])
            self.control.sendall(message[1:])
        finally:
            os.close(result_w)
            os.close(output_w)
        started = self._wait_for("started")
        return started["pid"], result_r, output_r, started.get("not_hidden") or {}

    def _kill(self, pid: int) -> None:
        try:
            self.control.sendall(framing.pack({"op": "kill", "pid": pid}))
        except OSError:
            pass


_DEVNULL = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC) if hasattr(os, "splice") else None


def _widen_pipe(fd: int) -> None:
    """A 1 MiB pipe: fewer wake-ups when a submission prints a lot."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass


class _Attempt:
    """One child process working through the remaining exercises; returns what is left to run."""

    def __init__(self, sandbox: Sandbox, source: str, filename: str, exercises: list[ExerciseRun],
                 remaining: list[int], import_timeout: float, result: RunOutcome,
                 hidden: list[str] = ()) -> None:
        self.sandbox, self.exercises, self.result = sandbox, exercises, result
        self.remaining = remaining
        self.index: list[tuple[int, int]] = [(e, c) for e in remaining for c in range(len(exercises[e].calls))]
        limits = self._limits()
        self.limits = limits
        cpu = limits.cpu or (import_timeout + sum(exercises[e].limits.wall for e in remaining))
        self.job = {"source": source, "filename": filename, "limits": limits.as_dict(),
                    "cpu_seconds": cpu, "hidden": list(hidden),
                    # "e" lets the child announce only the first call of each exercise (fewer frames)
                    "calls": [{"entry": exercises[e].calls[c].entry, "args": exercises[e].calls[c].args, "e": e}
                              for e, c in self.index]}
        self.import_timeout = import_timeout
        self.frames = framing.FrameReader()
        self.current: int | None = None       # exercise being run
        self.call_started = 0.0
        self.output_kept = len(result.output.encode("utf-8", "replace"))
        self.splitter = framing.OutputSplitter()
        self.output_by_mark: dict[str, str] = {}   # "import" or a call index -> what it printed
        self.unmarked = ""                          # printed since the last marker
        self.last_answered = -1                     # index of the last call that sent a result
        self.polled_once = False                    # the inbox may hold news from before the run

    def _limits(self) -> Limits:
        chosen = [self.exercises[e].limits for e in self.remaining]
        first = chosen[0]
        return first.with_overrides(memory=max(l.memory for l in chosen),
                                    wall=max(l.wall for l in chosen))

    # -- output capture --
    def _read_output(self, fd: int) -> bool:
        """Keep output up to the cap; past it, discard without copying (splice). False at EOF."""
        room = self.limits.output - self.output_kept
        if room <= 0 and _DEVNULL is not None:
            try:
                moved = os.splice(fd, _DEVNULL, 1 << 20)
                self.result.output_dropped += moved
                return moved > 0
            except OSError:
                pass
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:     # only when draining: nothing more right now
            return False
        for data, label in self.splitter.feed(chunk):
            room = self.limits.output - self.output_kept
            kept = data[:max(room, 0)]
            text = kept.decode("utf-8", "replace")
            self.result.output += text
            self.output_kept += len(kept)
            self.result.output_dropped += len(data) - len(kept)
            self.unmarked += text
            if label is not None:
                self.output_by_mark[label] = self.output_by_mark.get(label, "") + self.unmarked
                self.unmarked = ""
        return bool(chunk)

    def _drain_output(self, fd: int) -> None:
        """Whatever the child wrote before it ended, read now (the pipe may hold the last prints);
        never waits: a descendant that outlived the child may hold the pipe open."""
        os.set_blocking(fd, False)
        try:
            while self._read_output(fd):
                pass
        except OSError:
            pass

    def _attribute_output(self) -> None:
        """Each call gets what it printed: the text before its marker, and the call that was running
        when the child died or was killed gets what came after the last marker."""
        for label, text in self.output_by_mark.items():
            if label.isdigit() and int(label) < len(self.index):
                e, c = self.index[int(label)]
                self.result.outcomes[e][c].output += text
        if self.result.import_problem is not None and not self.result.import_problem.output:
            self.result.import_problem.output = self.output_by_mark.get("import", "") + self.unmarked
        elif self.unmarked and self.last_answered + 1 < len(self.index):
            e, c = self.index[self.last_answered + 1]
            self.result.outcomes[e][c].output += self.unmarked

    def run(self) -> list[int]:
        pid, result_r, output_r, not_hidden = self.sandbox._start(self.job)
        self.result.not_hidden.update(not_hidden)
        selector = selectors.DefaultSelector()
        selector.register(output_r, selectors.EVENT_READ, "output")
        selector.register(result_r, selectors.EVENT_READ, "result")
        # the fork server's news (the child exited) wakes us too: no polling between frames
        selector.register(self.sandbox.control, selectors.EVENT_READ, "control")
        deadline = time.monotonic() + self.import_timeout
        phase = "import"
        exit_status: int | None = None
        exited = False
        try:
            while True:
                timeout = max(0.0, deadline - time.monotonic()) if deadline else None
                wait = 0.05 if timeout is None else min(timeout, 0.05)
                events = selector.select(wait)
                news = any(key.data == "control" for key, _ in events)
                events = [(key, mask) for key, mask in events if key.data != "control"]
                # output first, so prints land before the result that followed them
                for key, _ in sorted(events, key=lambda kv: kv[0].data != "output"):
                    if key.data == "output":
                        if not self._read_output(key.fd):
                            selector.unregister(key.fd)
                        continue
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        selector.unregister(key.fd)
                        continue
                    try:
                        frames = self.frames.feed(chunk)
                    except framing.TransportError as exc:
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
                if not exited and (news or not self.polled_once):
                    exited, exit_status = self._poll_exit(pid, receive=news)
                    if news and not exited and self.sandbox.process.poll() is not None:
                        selector.unregister(self.sandbox.control)   # gone: its socket stays readable
                pipes_open = any(key.data != "control" for key in selector.get_map().values())
                if not exited and not pipes_open and self.sandbox.process.poll() is not None:
                    exited = True   # the fork server is gone; its child died with it (PDEATHSIG)
                    return self._abandon(phase, "crashed", "the sandbox's fork server was killed")
                if exited and not events:
                    return self._abandon(phase, "crashed", describe_exit(exit_status, self.limits))
                if deadline is not None and time.monotonic() > deadline:
                    self.sandbox._kill(pid)
                    return self._abandon(phase, "timeout", None)
        finally:
            selector.close()
            if not exited:
                self.sandbox._kill(pid)
            self._drain_output(output_r)
            self._attribute_output()
            os.close(result_r)
            os.close(output_r)

    def _poll_exit(self, pid: int, receive: bool = True) -> tuple[bool, int | None]:
        """Has the fork server said the child exited? (`receive`: read its socket first.)"""
        self.polled_once = True
        if receive:
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
            inactive = frame.get("inactive")
            if isinstance(inactive, dict):
                self.result.inactive.update({str(k): str(v) for k, v in list(inactive.items())[:50]})
        elif kind == "sandbox_error":
            problem = CallOutcome("error", error={"type": "SandboxError",
                                                  "message": str(frame.get("message"))[:500]})
            self._fill_remaining(problem)
            return "sandbox_error"
        elif kind == "import_error":
            self.result.functions = []
            self.result.import_problem = CallOutcome("error", error=_clean_error(frame, self.limits))
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
            return "started"
        elif kind in ("result", "error"):
            e, c = self._position(frame)
            seconds = time.monotonic() - self.call_started
            if kind == "result":
                from grader import transport   # numpy: imported only once a result arrives
                try:
                    value = transport.decode(frame.get("value"))
                    outcome = CallOutcome("ok", value=value)
                except framing.TransportError as exc:
                    outcome = CallOutcome("error", error={"type": "TransportError", "message": str(exc)})
            else:
                outcome = CallOutcome("error", error=_clean_error(frame, self.limits))
            outcome.seconds = seconds               # its output is attributed at the end (markers)
            self.result.outcomes[e][c] = outcome
            self.last_answered = frame["i"]
            self.call_started = time.monotonic()     # the next call of this exercise starts now
        elif kind == "done":
            return "done"
        return kind or ""

    def _position(self, frame: dict) -> tuple[int, int]:
        i = frame.get("i")
        if type(i) is not int or not 0 <= i < len(self.index):
            raise framing.TransportError("a message names a call that does not exist")
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
            self.result.import_problem = CallOutcome(status, error={"type": status, "message": message})
            self._fill_remaining(self.result.import_problem)
            return []
        e = self.current
        if e is None:   # died between import and the first call
            e = self.remaining[0]
        wall = self.exercises[e].limits.wall
        message = f"did not finish within {wall:g} s (time limit)" if status == "timeout" else reason
        for c, existing in enumerate(self.result.outcomes[e]):
            if existing.status == "not_run":
                self.result.outcomes[e][c] = CallOutcome(status, error={"type": status, "message": message})
        position = self.remaining.index(e)
        return self.remaining[position + 1:]


def _clean_error(frame: dict, limits: Limits) -> dict:
    traceback_lines = frame.get("traceback")
    kind, message = str(frame.get("type", "Exception"))[:100], str(frame.get("message", ""))[:framing.MAX_TEXT]
    if kind == "MemoryError":
        message = f"the memory limit ({limits.memory // (1024 * 1024)} MiB) was reached" + (
            f": {message}" if message else "")
    return {"type": kind, "message": message,
            "traceback": [str(line)[:500] for line in traceback_lines][:20]
            if isinstance(traceback_lines, list) else []}
