"""The fork server: a separate interpreter with numpy and the harness preloaded, forking one child
per submission run. It is started before any exercise is loaded and is never sent a reference
value, so nothing a child can read from its memory is secret.

Protocol on the control socket (length-prefixed JSON, see grader.transport):
  parent -> {"op": "run", "job": {...}} with two fds attached (result pipe, output pipe)
  zygote -> {"op": "started", "pid": N}
  zygote -> {"op": "exited", "pid": N, "status": code or -signal}
  parent -> {"op": "kill", "pid": N};  {"op": "quit"}
"""
from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile

from grader import transport


def _preload():
    """Everything students and the harness need, imported once, before any fork."""
    import numpy  # noqa: F401
    import math, cmath, random, functools, itertools, collections, statistics, fractions, decimal  # noqa: F401,E401
    from grader.sandbox import harness
    from grader.functions import default_registry
    from grader.expr import parse
    registry = default_registry()

    def student_function(reference: str):
        """A registered function by name, or a formula in x, as a plain numpy callable."""
        if reference in registry:
            return registry.callable(reference)
        return parse(reference, registry=registry).as_callable("x")

    return harness, student_function


class Zygote:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.reader = transport.FrameReader()
        self.pending_fds: list[int] = []
        self.children: dict[int, str] = {}       # pid -> its private working directory
        self.harness, self.student_function = _preload()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sandbox_root = tempfile.mkdtemp(prefix="grader-sandbox-")

    def send(self, message: dict) -> None:
        self.control.sendall(transport.pack(message))

    def serve(self) -> None:
        self.send({"op": "ready", "pid": os.getpid()})
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, "control")
        selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                for key, _ in selector.select():
                    if key.data == "wake":
                        os.read(self.wake_r, 4096)
                        self.reap()
                    elif not self.on_control():
                        return
        finally:
            for pid in list(self.children):
                self.kill(pid)
            shutil.rmtree(self.sandbox_root, ignore_errors=True)

    def on_control(self) -> bool:
        data, fds, _, _ = socket.recv_fds(self.control, 1 << 20, 8)
        if not data:
            return False
        for fd in fds:
            os.set_inheritable(fd, False)
        self.pending_fds += fds
        for message in self.reader.feed(data):
            op = message.get("op")
            if op == "run":
                result_fd, output_fd = self.pending_fds[:2]
                del self.pending_fds[:2]
                self.start(message["job"], result_fd, output_fd)
            elif op == "kill":
                self.kill(int(message["pid"]))
            elif op == "quit":
                return False
        return True

    def start(self, job: dict, result_fd: int, output_fd: int) -> None:
        workdir = tempfile.mkdtemp(dir=self.sandbox_root)
        job["workdir"] = workdir
        pid = os.fork()
        if pid == 0:
            self._become_child(job, result_fd, output_fd)
        os.close(result_fd)
        os.close(output_fd)
        self.children[pid] = workdir
        self.send({"op": "started", "pid": pid})

    def _become_child(self, job: dict, result_fd: int, output_fd: int) -> None:
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            for fd in (self.control.fileno(), self.wake_r, self.wake_w):
                os.close(fd)
            self.harness.run(job, result_fd, output_fd, self.student_function)
        finally:
            os._exit(5)

    def kill(self, pid: int) -> None:
        if pid not in self.children:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            workdir = self.children.pop(pid, None)
            try:
                os.killpg(pid, signal.SIGKILL)   # descendants left in its process group
            except (ProcessLookupError, PermissionError):
                pass
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            code = os.waitstatus_to_exitcode(status)
            self.send({"op": "exited", "pid": pid, "status": code})


def main(argv: list[str]) -> None:
    control = socket.socket(fileno=int(argv[0]))
    Zygote(control).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
