"""Hardening steps: once for the fork server at start-up, then in each freshly forked student process.

Every step either makes a protection active (its name goes in the report) or is skipped with the
reason (it goes in the report's `inactive`): a step the OS does not allow is never fatal.
Steps that are the same for every child (namespaces, subreaper, not dumpable, no new privileges,
the environment) run once in the fork server, so a child inherits them for free.
"""
from __future__ import annotations

import os
import resource
import signal

from grader.sandbox import linux, reaper
from grader.sandbox.limits import Limits

# Protections that can be switched off (Sandbox(disable=...) or GRADER_SANDBOX_DISABLE=a,b) to test
# the fallback path; the value is the name the report uses.
OPTIONAL = {
    "uid": "unprivileged uid",
    "no_new_privs": "no new privileges",
    "network": "network namespace",
    "mount": "mount namespace",
    "dumpable": "not dumpable",
    "reaper": "descendants killed",
}
PRIVATE_MOUNTS = ("/tmp", "/dev/shm", "/var/tmp")


class Report:
    """What is active and what is not (with the reason), in the order the steps ran."""

    def __init__(self) -> None:
        self.active: list[str] = []
        self.inactive: dict[str, str] = {}

    def step(self, name: str, action, disabled: bool = False) -> bool:
        if disabled:
            self.inactive[name] = "switched off"
            return False
        try:
            action()
        except (OSError, ValueError) as exc:
            self.inactive[name] = str(exc) if isinstance(exc, linux.Unavailable) else f"{type(exc).__name__}: {exc}"
            return False
        self.active.append(name)
        return True


# ---- the fork server, once --------------------------------------------------------------------

def _private_mounts() -> None:
    linux.unshare(linux.CLONE_NEWNS)
    linux.mount("none", "/", None, linux.MS_REC | linux.MS_PRIVATE)   # nothing propagates back
    for path in PRIVATE_MOUNTS:
        if os.path.isdir(path):
            linux.mount("tmpfs", path, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=256m,mode=1777")


def isolate_fork_server(disable: set[str]) -> Report:
    """Namespaces and process attributes every child inherits; run before any student code exists."""
    report = Report()
    report.step(OPTIONAL["dumpable"], linux.set_not_dumpable, "dumpable" in disable)
    report.step(OPTIONAL["reaper"], reaper.become_subreaper, "reaper" in disable)
    report.step(OPTIONAL["network"], lambda: linux.unshare(linux.CLONE_NEWNET), "network" in disable)
    report.step(OPTIONAL["mount"], _private_mounts, "mount" in disable)
    # inherited by every child and irreversible; nothing here gains privileges by execve either
    report.step(OPTIONAL["no_new_privs"], lambda: linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1),
                "no_new_privs" in disable)
    scrub_environment()
    return report


def hide_path(path: str, protected: list[str]) -> str | None:
    """Cover `path` with an empty read-only mount in the fork server's namespace; None or why not."""
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return None                                  # nothing to see (or already under a private /tmp)
    for keep in protected:                           # hiding these would break the sandbox itself
        if keep == real or keep.startswith(real.rstrip("/") + "/"):
            return f"contains {keep}, which the sandbox needs"
    try:
        if os.path.isdir(real):
            linux.mount("tmpfs", real, "tmpfs", linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV
                        | linux.MS_NOEXEC, "size=4k,mode=555")
        else:
            linux.mount("/dev/null", real, None, linux.MS_BIND)
    except linux.Unavailable as exc:
        return str(exc)
    return None


# ---- each child --------------------------------------------------------------------------------

def _set_limit(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _address_space_in_use() -> int:
    try:
        return int(linux.read_file("/proc/self/statm").split()[0]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


def _limit_steps(limits: Limits, cpu_seconds: float) -> list[tuple[str, int | None, int]]:
    return [
        # address space over what is already mapped (numpy): the student gets `memory` on top
        ("memory limit", getattr(resource, "RLIMIT_AS", None), _address_space_in_use() + limits.memory),
        ("cpu limit", resource.RLIMIT_CPU, int(cpu_seconds) + 1),
        ("file size limit", resource.RLIMIT_FSIZE, limits.file_size),
        ("open files limit", resource.RLIMIT_NOFILE, limits.open_files),
        ("no core dumps", resource.RLIMIT_CORE, 0),
    ]


CHILD_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1",
                     "OMP_NUM_THREADS": "1"}     # and HOME, the child's working directory


def scrub_environment() -> None:
    """Nothing inherited reaches student code: CI tokens live in the environment. The fork server
    scrubs its own at start-up, before any child exists; a child only sets HOME (see harden)."""
    for key in list(os.environ):
        os.environ.pop(key, None)
    os.environ.update(CHILD_ENVIRONMENT)


def redirect_stdio(output_fd: int) -> None:
    """stdin from /dev/null; stdout and stderr into the bounded capture pipe."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)


def close_other_fds(keep: tuple[int, ...]) -> None:
    """Nothing of the fork server's (its epoll instance, sockets) stays reachable from the child."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 16)


def _drop_uid(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def harden(job: dict, result_fd: int, output_fd: int) -> Report:
    """Every per-child step, in order; the report names what is active for this child."""
    report = Report()
    report.step("own session", os.setsid)      # its own group: the whole group is killed at the end
    close_other_fds((result_fd, output_fd))
    workdir = job.get("workdir")
    if workdir:
        report.step("private working directory", lambda: os.chdir(workdir))
    limits = Limits(**job["limits"])
    for name, which, value in _limit_steps(limits, job["cpu_seconds"]):
        if which is not None:
            report.step(name, lambda which=which, value=value: _set_limit(which, value))
    # the fork server scrubbed its own environment at start-up: the child's only lacks HOME
    report.step("scrubbed environment", lambda: os.environ.__setitem__("HOME", os.getcwd()))
    report.step("stdin closed", lambda: redirect_stdio(output_fd))
    uid = job.get("uid")
    if uid is not None:
        dropped = report.step(f"{OPTIONAL['uid']} {uid}", lambda: _drop_uid(uid))
    else:
        dropped = False
        report.inactive[OPTIONAL["uid"]] = job.get("uid_reason", "not available")
    if dropped:   # RLIMIT_NPROC counts the uid's processes and is not enforced for root
        report.step("process limit", lambda: _set_limit(resource.RLIMIT_NPROC, limits.processes))
    else:
        report.inactive["process limit"] = "needs the unprivileged uid (not enforced for root)"
    # after the uid drop, which clears it: if the fork server dies, so does this child
    report.step("dies with the fork server", lambda: _die_with(job.get("server_pid")))
    return report


def _die_with(server_pid: int | None) -> None:
    linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
    if server_pid is not None and os.getppid() != server_pid:
        os._exit(6)           # it died before the prctl: nothing would kill us later
