"""The grader's side of the sandbox: starts the fork server, runs one submission's calls in a
child, enforces wall-time limits, captures bounded output, and restarts after a crash or timeout
so that one exercise never spoils another's verdict."""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Iterable

from grader import framing
from grader.sandbox import hardening, linux, slots
from grader.sandbox.attempt import Attempt
# the wire vocabulary, re-exported: callers import it from here
from grader.sandbox.calls import (CallOutcome, CallSpec, ExerciseRun, RunOutcome, SandboxError,  # noqa: F401
                                  describe_exit)

_BOOT = ("import sys, json; sys.path[:0] = json.loads(sys.argv[2]); "
         "from grader.sandbox import zygote; zygote.main([sys.argv[1], sys.argv[3]])")
_KEEP_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "SYSTEMROOT")


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

    def __init__(self, disable: Iterable[str] | None = None, *, boot: bool = True) -> None:
        self.disable = disabled_protections(disable)
        self.slot, uid_reason = self._claim_uid()
        self.parent_report = hardening.Report()
        self.parent_report.active.append("separate process")
        # a same-uid child (fallback mode) cannot read this process's memory or environment
        self.parent_report.step(hardening.OPTIONAL["dumpable"], linux.set_not_dumpable,
                                "dumpable" in self.disable)
        self.options = {"uid": self.slot.uid if self.slot else None, "uid_reason": uid_reason,
                        "disable": sorted(self.disable), "lock": self.slot.lock_fd if self.slot else None}
        if boot:
            self._boot()

    @classmethod
    def several(cls, count: int, disable: Iterable[str] | None = None) -> list["Sandbox"]:
        """`count` sandboxes for one start-up's price: the first fork server boots as usual and
        forks the others once numpy is loaded (see zygote.fork_clones). Where a clone cannot be
        watched (no pidfd) every server boots on its own; a clone that fails before it is ready
        is replaced by one that does."""
        sandboxes: list[Sandbox] = []
        ends: list = []                 # the clones' ends of their socket and stderr pipe
        try:
            sandboxes += [cls(disable, boot=False) for _ in range(count)]
            if count < 2 or not _pidfds_work():
                for sandbox in sandboxes:
                    sandbox._boot()
                return sandboxes
            clones, keep = [], []
            for sandbox in sandboxes[1:]:
                parent_end, child_end = socket.socketpair()
                ends.append(child_end)
                error_r, error_w = os.pipe()
                ends.append(error_w)
                sandbox._attach(parent_end, ClonedServer(os.fdopen(error_r, "rb")))
                clones.append({**sandbox.options, "control": child_end.fileno(), "stderr": error_w})
                keep += [child_end.fileno(), error_w] + ([sandbox.slot.lock_fd] if sandbox.slot else [])
            sandboxes[0]._boot(clones, keep)
            return sandboxes
        except BaseException:
            for sandbox in sandboxes:   # nothing half-started stays: sockets closed, uids freed
                sandbox._abandon()
            raise
        finally:
            for end in ends:
                end.close() if isinstance(end, socket.socket) else os.close(end)

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

    def _boot(self, clones: list[dict] = (), clone_fds: list[int] = ()) -> None:
        """Start the fork server as a fresh interpreter: it inherits nothing of this process's memory.
        `clones`: the options of further servers it forks (see `several`), with their fds."""
        parent_end, child_end = socket.socketpair()
        env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
        env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        paths = [os.path.abspath(p) for p in sys.path if p]
        # the fork server holds the uid's lock too, so the uid stays claimed while any child may live
        keep = [child_end.fileno()] + ([self.slot.lock_fd] if self.slot else []) + list(clone_fds)
        options = {**self.options, "clones": list(clones)} if clones else self.options
        try:
            process = subprocess.Popen(
                [sys.executable, "-B", "-I", "-c", _BOOT, str(child_end.fileno()), json.dumps(paths),
                 json.dumps(options)],
                pass_fds=keep, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/")
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        self._attach(parent_end, process)

    def _abandon(self) -> None:
        """Undo a Sandbox whose server may never have started (see `several`)."""
        process = getattr(self, "process", None)
        if process is not None:         # attached (see _attach): control and process both set
            self._close_channel()
            if isinstance(process, ClonedServer):
                process.forget()
            else:
                process.kill()
                process.wait()
        if self.slot:
            self.slot.release()

    def _attach(self, control: socket.socket, process) -> None:
        self.process = process
        self.control = control
        self.reader = framing.FrameReader()
        self.inbox: list[dict] = []
        self._cleans_pending = 0             # "cleaned" answers still to come (see _finish)
        self.spare_pid: int | None = None    # the child the server forked ahead (holds nothing yet)
        self.ready = False
        self.server_report: dict = {}

    def _restart_if_dead(self) -> None:
        """A submission killed the fork server (possible only without the uid drop): start anew."""
        if self.process.poll() is None:
            return
        self._discard_server()
        self._boot()

    def _close_channel(self) -> None:
        """Close this end of the control socket and the server's stderr (it ends on EOF)."""
        self.control.close()
        if self.process.stderr:
            self.process.stderr.close()

    def _discard_server(self) -> None:
        self._close_channel()
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
        for message in self.reader.feed(data):
            if message.get("op") == "spare":    # news only: the server forked its next child
                self.spare_pid = message.get("pid")
            else:
                self.inbox.append(message)
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
        if self.ready:
            return
        try:
            self.server_report = self._wait_for("ready")
            if isinstance(self.process, ClonedServer):
                self.process.watch(self.server_report.get("pid"))
                if self.process.poll() is not None or not _connected(self.control):
                    self.process.forget()       # gone, even if its pid now names another process
                    raise SandboxError("the cloned fork server is gone")
        except SandboxError:
            if not isinstance(self.process, ClonedServer):
                raise
            self._discard_server()      # a clone that never came up: boot a server of our own
            self._boot()
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
            self._close_channel()
            if isinstance(self.process, ClonedServer):
                self.process.forget()
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
            remaining = self._attempt(Attempt(self, source, filename, exercises, remaining,
                                               import_timeout, result, hidden))
        self._finish()
        self._summarise_protections(result, hidden)
        return result

    def _attempt(self, attempt: "Attempt") -> list[int]:
        """Run an attempt; if the fork server dies under it (killed by the previous submission in
        fallback mode), start a new server and try once more."""
        for tries_left in (1, 0):
            self._restart_if_dead()
            self.wait_ready()
            try:
                return attempt.run()
            except (SandboxError, OSError):     # OSError: a broken channel to a dead server
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
        """Return only when nothing of this submission runs any more (daemons included). The
        server answers requests in order: the last "cleaned" comes after every earlier kill."""
        try:
            if not self._cleans_pending:
                self.control.sendall(framing.pack({"op": "clean"}))
                self._cleans_pending = 1
            while self._cleans_pending:
                self._wait_for("cleaned", timeout=10.0)
                self._cleans_pending -= 1
        except (OSError, SandboxError):
            self._cleans_pending = 0
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

    def _start(self, job: dict, payload: bytes) -> tuple[int, int, int, dict]:
        """Ask the fork server for a child. The submission and its inputs (`payload`) travel in an
        anonymous file that only the child reads: the fork server, whose memory every later child
        inherits, never holds one student's code or a hidden case's inputs."""
        self.spare_pid = None               # it becomes this run's child, if there is one
        payload_fd = _anonymous_file(payload)
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        _widen_pipe(output_w)
        _widen_pipe(result_w)      # results may wait in the pipe while the grader gathers them
        message = framing.pack({"op": "run", "job": job})
        try:
            socket.send_fds(self.control, [message[:1]], [result_w, output_w, payload_fd])
            self.control.sendall(message[1:])
        finally:
            os.close(result_w)
            os.close(output_w)
            os.close(payload_fd)
        started = self._wait_for("started")
        return started["pid"], result_r, output_r, started.get("not_hidden") or {}

    def _kill(self, pid: int, clean: bool = False) -> None:
        """Kill a child's process group; `clean`: and everything it left (answered by "cleaned")."""
        try:
            self.control.sendall(framing.pack({"op": "kill", "pid": pid, "clean": True} if clean
                                              else {"op": "kill", "pid": pid}))
        except OSError:
            return
        self._cleans_pending += clean


def _anonymous_file(data: bytes) -> int:
    """A file with `data` and no name (memfd on Linux, an unlinked temporary file elsewhere),
    positioned at its start."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("grader-payload", os.MFD_CLOEXEC)
    else:
        handle = tempfile.TemporaryFile()
        fd = os.dup(handle.fileno())
        handle.close()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _widen_pipe(fd: int) -> None:
    """A 1 MiB pipe: the child does not wait for the grader to read (prints, large answers)."""
    try:
        import fcntl
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass


def _connected(control: socket.socket) -> bool:
    """Is the other end of the control socket still open? (Nothing is pending before a run.)"""
    control.settimeout(0)
    try:
        return control.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def _pidfds_work() -> bool:
    """Can this process watch a process that is not its child (Linux 5.3 and later)?"""
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except (AttributeError, OSError):
        return False


class ClonedServer:
    """What the Sandbox uses of `subprocess.Popen`, for a cloned fork server: not this process's
    child (see zygote.fork_clones), so it is watched through a pidfd, opened once its "ready"
    message names its pid (the Sandbox then checks that its socket is still connected: a pid
    reused after the clone died is never mistaken for it). Its exit status cannot be known: a
    clone that is gone reports -1."""

    def __init__(self, stderr) -> None:
        self.stderr = stderr
        self.pid: int | None = None
        self.pidfd: int | None = None
        self.returncode: int | None = None
        self._lock = threading.Lock()       # worker threads and a closing main thread

    def watch(self, pid) -> None:
        with self._lock:
            if type(pid) is not int or pid <= 0:
                self.returncode = -1
                return
            self.pid = pid
            try:
                self.pidfd = os.pidfd_open(pid)
            except OSError:                 # already gone
                self.returncode = -1

    def poll(self) -> int | None:
        if not self._lock.acquire(blocking=False):
            return self.returncode          # another thread is waiting for it
        try:
            if self.returncode is None and self.pidfd is not None and self._exited(0):
                self._gone()
            return self.returncode
        finally:
            self._lock.release()

    def wait(self, timeout: float | None = None) -> int:
        with self._lock:
            if self.returncode is None and self.pidfd is not None:
                if not self._exited(timeout):
                    raise subprocess.TimeoutExpired("fork server", timeout)
                self._gone()
            if self.returncode is None:     # never named its pid: its socket is closed, it ends on its own
                self.returncode = -1
            return self.returncode

    def kill(self) -> None:
        with self._lock:
            if self.returncode is None and self.pidfd is not None:
                try:
                    signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
                except ProcessLookupError:  # exited meanwhile
                    pass

    def forget(self) -> None:
        """Stop watching (the clone is gone, or no longer ours to watch)."""
        with self._lock:
            self._release()

    def _exited(self, timeout: float | None) -> bool:
        poller = select.poll()              # not select.select: pidfds may be numbered past 1023
        poller.register(self.pidfd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))

    def _gone(self) -> None:
        try:    # the grader is its parent only as PID 1 (orphans come to it): reap it then
            os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED | os.WNOHANG)
        except (AttributeError, OSError):
            pass
        self._release()

    def _release(self) -> None:
        if self.returncode is None:
            self.returncode = -1
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
