"""One child process working through a submission's remaining exercises: frames in, outcomes out,
wall-time limits, bounded output split by call, and what to do when the child dies or hangs."""
from __future__ import annotations

import os
import select
import selectors
import time
from typing import TYPE_CHECKING

from grader import framing
from grader.sandbox.calls import CallOutcome, ExerciseRun, RunOutcome, describe_exit
from grader.sandbox import payload
from grader.sandbox.limits import Limits

if TYPE_CHECKING:
    from grader.sandbox.client import Sandbox

_DEVNULL = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC) if hasattr(os, "splice") else None
GATHER_SECONDS = 0.002      # how long results may wait in the pipe before the grader reads them


def _decode(value):
    """transport.decode, imported on the first result (it needs numpy, which the grader imports
    after starting its fork servers), then bound here for every later frame."""
    global _decode
    from grader.transport import decode
    _decode = decode
    return decode(value)


class Attempt:
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
        # what the fork server reads; the submission and its inputs go to the child alone (payload)
        self.job = {"limits": limits.as_dict(), "cpu_seconds": cpu, "hidden": list(hidden)}
        self.payload = payload.pack(source, filename, payload.calls_blob(exercises, self.index))
        self.import_timeout = import_timeout
        self.frames = framing.FrameReader()
        self.current: int | None = None       # exercise being run
        self.started = time.monotonic()
        self.ready_seen = False                     # the child hardened itself
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
            if data:                # most calls print nothing: their piece is a bare marker
                room = self.limits.output - self.output_kept
                kept = data[:max(room, 0)]
                text = kept.decode("utf-8", "replace")
                self.result.output += text
                self.output_kept += len(kept)
                self.result.output_dropped += len(data) - len(kept)
                self.unmarked += text
            if label is not None and self.unmarked:
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
        pid, result_r, output_r, not_hidden = self.sandbox._start(self.job, self.payload)
        self.result.not_hidden.update(not_hidden)
        selector = selectors.DefaultSelector()
        selector.register(output_r, selectors.EVENT_READ, "output")
        selector.register(result_r, selectors.EVENT_READ, "result")
        # the fork server's news (the child exited) wakes us too: no polling between frames
        selector.register(self.sandbox.control, selectors.EVENT_READ, "control")
        control_news = select.poll()
        control_news.register(self.sandbox.control, select.POLLIN)
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
                        # student code shares the child with the harness and can write frames
                        # too: one out of the protocol's order is malformed data, never a way
                        # to move a deadline
                        for frame in self.frames.feed(chunk):
                            outcome = self._on_frame(frame, phase)
                            if outcome in ("imported", "started"):
                                # until the first call starts, the first exercise's budget
                                phase, e = "run", self.current if self.current is not None else self.remaining[0]
                                deadline = time.monotonic() + self.exercises[e].limits.wall
                            elif outcome in ("done", "import_failed", "sandbox_error"):
                                return []
                    except framing.TransportError as exc:
                        self.sandbox._kill(pid)
                        return self._abandon(phase, "crashed", f"sent malformed data: {exc}")
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
                if events and phase == "run" and not exited:
                    self._let_frames_gather(control_news, deadline)
        finally:
            selector.close()
            if not exited:
                self.sandbox._kill(pid, clean=True)
            self._drain_output(output_r)
            self._attribute_output()
            os.close(result_r)
            os.close(output_r)

    def _let_frames_gather(self, control_news: select.poll, deadline: float | None) -> None:
        """Wait a moment before reading again, so that the frames of several calls are read in
        one go: a wake-up per call costs the grader more than the call. The fork server's news
        (the child exited) ends the wait at once; the child never waits, its pipes are wide."""
        wait = GATHER_SECONDS if deadline is None else min(GATHER_SECONDS, deadline - time.monotonic())
        if wait > 0:
            control_news.poll(wait * 1000)

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

    def _on_frame(self, frame: dict, phase: str) -> str:
        """Record what a frame says; raises TransportError for one the harness would not send
        at this point (the protocol: ready, imported or import_error, then per exercise a start
        and its results, exercises only ever moving forward, then done)."""
        kind = frame.get("t")
        if kind == "result" or kind == "error":     # most frames: checked first
            if phase != "run":
                raise framing.TransportError("a call's message before the import finished")
            e, c = self._position(frame)
            if frame["i"] != self.last_answered + 1 or e != self.current:
                raise framing.TransportError("a call's answer out of order")    # one answer per call, in turn
            # the child times the call itself (frames are read in batches); a lie changes only
            # this figure, never a verdict or a limit, and it cannot exceed the time that passed
            elapsed = time.monotonic() - self.started
            reported = frame.get("s")
            seconds = min(reported, elapsed) if type(reported) is float and reported >= 0 else 0.0
            if kind == "result":
                try:
                    value = _decode(frame.get("value"))
                    outcome = CallOutcome("ok", value=value)
                except framing.TransportError as exc:
                    outcome = CallOutcome("error", error={"type": "TransportError", "message": str(exc)})
            else:
                outcome = CallOutcome("error", error=_clean_error(frame, self.limits))
            outcome.seconds = seconds               # its output is attributed at the end (markers)
            self.result.outcomes[e][c] = outcome
            self.last_answered = frame["i"]
            return kind
        if kind in ("ready", "sandbox_error") and self.ready_seen:
            raise framing.TransportError(f"a second '{kind}' message")
        if kind in ("imported", "import_error") and (phase != "import" or not self.ready_seen):
            raise framing.TransportError(f"an '{kind}' message out of order")
        if kind == "start" and phase != "run":
            raise framing.TransportError("a call's message before the import finished")
        if kind == "ready":
            self.ready_seen = True
            self.result.protections = [str(p) for p in frame.get("protections", [])][:50]
            inactive = frame.get("inactive")
            if isinstance(inactive, dict):
                self.result.inactive.update({str(k): str(v) for k, v in list(inactive.items())[:50]})
        elif kind == "sandbox_error":
            problem = CallOutcome("error", error={"type": "SandboxError",
                                                  "message": str(frame.get("message"))[:500]})
            self.result.sandbox_failed = True       # sent before any student code existed
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
            if self.current is not None and self.remaining.index(e) <= self.remaining.index(self.current):
                raise framing.TransportError("an exercise started twice or out of order")
            self.current = e
            return "started"
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
