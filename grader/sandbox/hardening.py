"""Hardening steps applied inside a freshly forked student process, before student code runs.

Each step returns the name of the protection it made active, so the report can say what was in
force on this platform; a step the OS does not allow is skipped, never fatal.
"""
from __future__ import annotations

import os
import resource

from grader.sandbox.limits import Limits


def _set_limit(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _address_space_in_use() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def apply_limits(limits: Limits, cpu_seconds: float) -> list[str]:
    """rlimits: memory over what is already mapped (numpy), CPU, file size, open files, no core."""
    active = []
    baseline = _address_space_in_use()
    for name, which, value in (
        ("memory limit", getattr(resource, "RLIMIT_AS", None), baseline + limits.memory),
        ("cpu limit", resource.RLIMIT_CPU, int(cpu_seconds) + 1),
        ("file size limit", resource.RLIMIT_FSIZE, limits.file_size),
        ("open files limit", resource.RLIMIT_NOFILE, limits.open_files),
        ("no core dumps", resource.RLIMIT_CORE, 0),
    ):
        if which is None:
            continue
        try:
            _set_limit(which, value)
            active.append(name)
        except (ValueError, OSError):
            pass
    return active


def scrub_environment() -> None:
    """Nothing inherited reaches student code: CI tokens live in the environment."""
    for key in list(os.environ):
        os.environ.pop(key, None)
    os.environ.update({"PATH": "/usr/bin:/bin", "HOME": os.getcwd(), "LANG": "C.UTF-8",
                       "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})


def redirect_stdio(output_fd: int) -> None:
    """stdin from /dev/null; stdout and stderr into the bounded capture pipe."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(output_fd, 1)
    os.dup2(output_fd, 2)


def harden(job: dict, output_fd: int) -> list[str]:
    """Every step, in order; returns the protections that are active for this child."""
    os.setsid()                        # own process group: the whole group is killed at the end
    active = ["separate process", "own process group"]
    workdir = job.get("workdir")
    if workdir:
        os.chdir(workdir)
        active.append("private working directory")
    limits = Limits(**job["limits"])
    active += apply_limits(limits, job["cpu_seconds"])
    scrub_environment()
    active.append("scrubbed environment")
    redirect_stdio(output_fd)
    active.append("stdin closed")
    return active
