"""The fork server: a separate interpreter with numpy and the harness preloaded, forking one child
per submission run. It is started before any exercise is loaded and never holds a reference
value, a submission or a case's inputs (those reach the child alone, see Sandbox._start): every
child starts as a copy of its memory, so nothing a child can read there is secret.

Protocol on the control socket (length-prefixed JSON, see grader.transport):
  parent -> {"op": "run", "job": {...}} with three fds attached: the result pipe, the output pipe
            and the payload (the submission and the calls, read by the child alone)
  zygote -> {"op": "started", "pid": N}
  zygote -> {"op": "exited", "pid": N, "status": code or -signal}
  parent -> {"op": "kill", "pid": N};  {"op": "quit"}
  parent -> {"op": "clean"}  (the run is over: kill and reap everything)  zygote -> {"op": "cleaned"}
  parent -> {"op": "kill", "pid": N, "clean": true}  (both at once)      zygote -> {"op": "cleaned"}
  zygote -> {"op": "spare", "pid": N}  (news: the next child, forked ahead; see _fork_spare)
"""
from __future__ import annotations

import _signal
import gc
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile

from grader import transport
from grader.sandbox import hardening, linux, reaper


# Imported once, before any fork: after the uid drop a child cannot read the Python installation
# (it lives in root's home here), so what is not loaded now cannot be imported by student code.
PRELOAD = ("numpy", "numpy.linalg", "numpy.random", "numpy.fft", "math", "cmath", "random", "functools",
           "itertools", "collections", "statistics", "fractions", "decimal", "operator", "typing",
           "dataclasses", "copy", "time", "re", "string", "json", "warnings", "traceback", "numbers",
           "heapq", "bisect", "array", "struct", "enum", "abc", "encodings.idna")


SPARE_JOB_LIMIT = 64 * 1024    # bytes of job one packet to a spare may carry (the socket's buffer is larger)
_CHILD_DEFAULT_SIGNALS = tuple(int(s) for s in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE))
_SIG_DFL = int(signal.SIG_DFL)


class StudentFunctions:
    """Functions handed to students (`func`, `chain`, `sigma`), by registered name or formula in x.

    The built-ins need no plugin system; the full plugin registry is loaded only when third-party
    plugins are installed. Either way it is loaded at start-up, before the mount namespace hides
    `/tmp` (where a virtualenv may live) and before any fork (a child may be unable to import)."""

    def __init__(self) -> None:
        from grader.functions import builtin_registry, default_registry
        self.registry = default_registry() if _third_party_plugins() else builtin_registry()

    def __call__(self, reference: str):
        from grader.expr import parse
        if reference in self.registry:
            return self.registry.callable(reference)
        return parse(reference, registry=self.registry).as_callable("x")


def _third_party_plugins() -> bool:
    from grader.entry_points import entry_points
    try:
        return bool(entry_points("grader.plugins"))
    except Exception:      # unreadable metadata: load everything, let the plugin manager report it
        return True


def _preload():
    """Everything students and the harness need, imported once, before any fork."""
    import importlib
    for name in PRELOAD:
        importlib.import_module(name)
    from grader.sandbox import harness
    import grader.expr  # noqa: F401  (formulas handed to students are parsed in the child)
    return harness, StudentFunctions()


class Zygote:
    def __init__(self, control: socket.socket, options: dict, preloaded=None) -> None:
        self.control = control
        self.reader = transport.FrameReader()
        self.pending_fds: list[int] = []
        self.children: dict[int, str] = {}       # pid -> its private working directory
        self.killed: set[int] = set()            # children the grader killed (no "exited" needed)
        self.dirty = False                       # a run may have left processes or files
        self.spare: tuple[int, socket.socket] | None = None   # the next child, forked ahead
        self.spares = sys.platform.startswith("linux")
        self.harness, self.student_function = preloaded or _preload()
        gc.collect()
        gc.freeze()      # children's garbage collections then leave these pages shared (less copying)
        self.disable = set(options.get("disable", ()))
        self.isolation = hardening.isolate_fork_server(self.disable)
        self.mounts = hardening.OPTIONAL["mount"] in self.isolation.active
        self.tree_kill = hardening.OPTIONAL["reaper"] in self.isolation.active
        self.uid, self.uid_reason = options.get("uid"), options.get("uid_reason", "")
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        # Python-level handlers here must do nothing: one that trips just before a fork also runs
        # in the child (linux.lean_fork skips CPython's after-fork reset). Ctrl-C reaches this
        # process group too: the server ends when the grader closes its socket, not on SIGINT.
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.sandbox_root = tempfile.mkdtemp(prefix="grader-sandbox-")
        self.runs = 0
        os.chmod(self.sandbox_root, 0o711)       # the sandbox uid may enter its own directory only
        self.hidden: dict[str, str | None] = {}  # path -> None (hidden) or why it is not
        self.needed = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, self.sandbox_root,
                       os.path.dirname(os.path.dirname(transport.__file__)), "/usr", "/lib", "/proc", "/dev")]

    def send(self, message: dict) -> None:
        self.control.sendall(transport.pack(message))

    def serve(self) -> None:
        self.send({"op": "ready", "pid": os.getpid(), "protections": self.isolation.active,
                   "inactive": self.isolation.inactive})
        # select.poll, not selectors: after every fork each page this loop writes is copied again
        poller = select.poll()
        control = self.control.fileno()
        poller.register(control, select.POLLIN)
        poller.register(self.wake_r, select.POLLIN)
        try:
            self._fork_spare()
            while True:
                for fd, _ in poller.poll():
                    if fd == self.wake_r:
                        os.read(self.wake_r, 4096)
                        self.reap()
                    elif not self.on_control():
                        return
        finally:
            self._drop_spare()
            for pid in list(self.children):
                self.kill(pid)
            shutil.rmtree(self.sandbox_root, ignore_errors=True)

    def on_control(self) -> bool:
        try:
            data, fds, _, _ = socket.recv_fds(self.control, 1 << 20, 8)
        except OSError:
            return False
        if not data:
            return False
        for fd in fds:
            os.set_inheritable(fd, False)
        self.pending_fds += fds
        for message in self.reader.feed(data):
            op = message.get("op")
            if op == "run":
                result_fd, output_fd, payload_fd = self.pending_fds[:3]
                del self.pending_fds[:3]
                self.start(message["job"], result_fd, output_fd, payload_fd)
            elif op == "kill":
                self.kill(int(message["pid"]))
                if message.get("clean"):         # the run is over: one message instead of two
                    self._cleaned()
            elif op == "clean":
                self._cleaned()
            elif op == "quit":
                return False
        return True

    def _hide(self, paths: list[str]) -> dict[str, str]:
        """Hide what this run must not read; returns {path: reason} for what could not be hidden."""
        for path in paths:
            if path not in self.hidden:
                self.hidden[path] = (hardening.hide_path(path, self.needed) if self.mounts
                                     else "no mount namespace")
        return {path: self.hidden[path] for path in paths if self.hidden[path]}

    def _cleaned(self) -> None:
        self.clean_up()
        self.send({"op": "cleaned"})
        self._fork_spare()          # after the answer: the grader goes on meanwhile

    def _fork_spare(self) -> None:
        """Fork the next child now, while the grader is busy with the last one: the fork (about
        1 ms, several on a busy machine) then lies off the path from a run request to a running
        child. Only from a clean server (nothing of an earlier run exists, so nothing can reach
        the spare), and the spare holds nothing: it waits for its job and descriptors on its own
        socket, and dies with this server. Its pid is announced ({"op": "spare"}). Linux only
        (sequenced-packet socket pairs, PDEATHSIG); where it fails, runs fork as they come."""
        if self.spare is not None or self.dirty or not self.spares:
            return
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError:
            return
        try:
            pid = linux.lean_fork()
        except OSError:
            ours.close()
            theirs.close()
            return
        if pid == 0:
            self._wait_as_spare(ours, theirs)
        theirs.close()
        self.spare = (pid, ours)
        self.send({"op": "spare", "pid": pid})

    def _wait_as_spare(self, ours: socket.socket, theirs: socket.socket) -> None:
        try:
            _signal.set_wakeup_fd(-1)
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
            ours.close()
            self.control.close()
            data, fds, _, _ = socket.recv_fds(theirs, 1 << 20, 3, socket.MSG_CMSG_CLOEXEC)
            theirs.close()
            if data and len(fds) == 3:
                self._become_child(json.loads(data), *fds)
        finally:
            os._exit(0)

    def _take_spare(self, job: dict, fds: tuple[int, int, int]) -> int | None:
        """Hand a run to the spare; None if there is none, it is gone or stopped, or the job is
        too large for one packet (then fork as usual; a stopped spare would cost a timeout)."""
        if self.spare is None:
            return None
        message = json.dumps(job).encode()
        if len(message) > SPARE_JOB_LIMIT:   # the runs of one grader are alike: no more spares
            self.spares = False
            self._drop_spare()
            return None
        pid, channel = self.spare
        self.spare = None
        try:
            if not _waiting(pid):
                raise OSError("the spare is not waiting")
            socket.send_fds(channel, [message], list(fds))
            return pid
        except OSError:
            self._kill_spare(pid)
            return None
        finally:
            channel.close()

    def _drop_spare(self) -> None:
        if self.spare is not None:
            pid, channel = self.spare
            self.spare = None
            channel.close()
            self._kill_spare(pid)

    def _kill_spare(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def start(self, job: dict, result_fd: int, output_fd: int, payload_fd: int) -> None:
        self.clean_up()                          # whatever an earlier run left is gone first
        not_hidden = self._hide([str(p) for p in job.get("hidden", [])])
        workdir = self._new_workdir()
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        job.update(workdir=workdir, uid=self.uid, server_pid=os.getpid(), uid_reason=self.uid_reason)
        pid = self._take_spare(job, (result_fd, output_fd, payload_fd))
        if pid is None:
            pid = linux.lean_fork()
            if pid == 0:
                self._become_child(job, result_fd, output_fd, payload_fd)
        for fd in (result_fd, output_fd, payload_fd):
            os.close(fd)
        self.children[pid] = workdir
        self.dirty = True
        self.send({"op": "started", "pid": pid, "not_hidden": not_hidden})

    def _new_workdir(self) -> str:
        """A fresh directory named by a counter (cheaper than mkdtemp). The root is 0o711, but
        without the uid drop a child runs as this process's user and may create the next name."""
        while True:
            self.runs += 1
            workdir = os.path.join(self.sandbox_root, str(self.runs))
            try:
                os.mkdir(workdir, 0o700)
                return workdir
            except FileExistsError:
                continue

    def _become_child(self, job: dict, result_fd: int, output_fd: int, payload_fd: int) -> None:
        try:
            _signal.set_wakeup_fd(-1)
            for sig in _CHILD_DEFAULT_SIGNALS:      # the C functions: signal.signal converts to enums
                _signal.signal(sig, _SIG_DFL)
            self.harness.run(job, result_fd, output_fd, payload_fd, self.student_function)
        finally:
            os._exit(5)

    def kill(self, pid: int) -> None:
        if pid not in self.children:
            return
        self.killed.add(pid)      # the grader asked: it does not wait to hear of the exit
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.clean_up()

    def clean_up(self) -> None:
        """Every process of earlier runs killed and reaped, their files removed. Once that is done
        nothing can start again (only a run's processes create processes or files), so it is
        skipped until the next fork."""
        if not self.dirty:
            return
        finished = True
        if self.tree_kill:
            finished = reaper.kill_descendants(self._on_reaped, wait_for=list(self.children))
        else:   # without the subreaper only the children and their process groups can be found
            for pid in list(self.children):
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                try:
                    self._on_reaped(*os.waitpid(pid, 0))
                except ChildProcessError:
                    self.children.pop(pid, None)
            reaper.reap(self._on_reaped)
        if self.mounts and not self.children:     # files a run left in the private /tmp
            for directory in hardening.PRIVATE_MOUNTS:
                try:
                    entries = os.listdir(directory)
                except OSError:
                    continue
                for name in entries:
                    path = os.path.join(directory, name)
                    if path != self.sandbox_root:
                        _remove(path)
        self.dirty = bool(self.children) or not finished

    def reap(self) -> None:
        if reaper.reap(self._on_reaped) and not self.children:
            self.clean_up()                      # its descendants (even setsid ones) go with it

    def _on_reaped(self, pid: int, status: int) -> None:
        if self.spare is not None and self.spare[0] == pid:     # killed from outside
            self.spare[1].close()
            self.spare = None
        workdir = self.children.pop(pid, None)
        if workdir is None:
            return                               # an orphaned descendant, re-parented to us
        try:
            os.killpg(pid, signal.SIGKILL)       # descendants left in its process group
        except (ProcessLookupError, PermissionError):
            pass
        _remove_directory(workdir)
        if pid in self.killed:
            self.killed.discard(pid)
        else:
            self.send({"op": "exited", "pid": pid, "status": os.waitstatus_to_exitcode(status)})


def _waiting(pid: int) -> bool:
    """Is this process asleep (not stopped, traced or gone)?"""
    try:
        stat = linux.read_file(f"/proc/{pid}/stat")
    except OSError:
        return False
    return stat.rsplit(b")", 1)[-1].split()[:1] in ([b"S"], [b"R"])


def _remove_directory(path: str) -> None:
    try:
        os.rmdir(path)          # most runs leave their directory empty: one call
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def fork_clones(options: dict, clones: list[dict]) -> dict:
    """Fork the other fork servers of a batch from this one, once the preload is done: each saves
    an interpreter's start-up (numpy's import among it). Every clone then sets itself up as any
    server does (its own namespaces, /tmp, subreaper and uid), so two servers share nothing a
    student could use to reach the other's students.

    A clone is orphaned at once (a double fork, before this server becomes a subreaper), so it is
    nobody's descendant and this server's tree kill never reaches it; the grader watches it
    through a pidfd. Each clone gets its own control socket, stderr pipe and uid lock, and closes
    every other server's. Returns the options of the server the calling process now is."""
    own = [fd for fd in (options.get("control"), options.get("lock")) if fd is not None]
    theirs = [[fd for fd in (c["control"], c["stderr"], c.get("lock")) if fd is not None] for c in clones]
    for index, clone in enumerate(clones):
        try:
            pid = os.fork()
        except OSError:     # no clone: its socket closes below and the grader boots that server
            continue
        if pid == 0:
            try:
                if os.fork() == 0:
                    for fd in own + [fd for i, fds in enumerate(theirs) if i != index for fd in fds]:
                        os.close(fd)
                    os.dup2(clone["stderr"], 2)
                    os.close(clone["stderr"])
                    return clone
            except BaseException:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
    for fds in theirs:
        for fd in fds:
            os.close(fd)
    return options


def main(argv: list[str]) -> None:
    """argv: the control socket's fd, then the options as JSON ({"uid", "uid_reason", "disable",
    "lock"}, and "clones": the same for each server to fork, with its "control" and "stderr" fds)."""
    options = json.loads(argv[1]) if len(argv) > 1 else {}
    options["control"] = int(argv[0])
    clones = options.pop("clones", [])
    preloaded = _preload()
    options = fork_clones(options, clones)
    Zygote(socket.socket(fileno=options["control"]), options, preloaded).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
