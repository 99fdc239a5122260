"""Killing every process a student run left behind, including ones that called setsid or double-forked.

The fork server is a child subreaper (PR_SET_CHILD_SUBREAPER): an orphaned descendant is re-parented
to it, not to init, so "kill all my children, reap, repeat" reaches the whole tree however its
members re-grouped themselves. A process cannot leave the subtree of its ancestors.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Callable

from grader.sandbox import linux


def become_subreaper() -> None:
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)


def children() -> list[int]:
    """This process's children (zombies included), from /proc; [] where /proc is unavailable."""
    found: list[int] = []
    try:
        for task in os.listdir("/proc/self/task"):
            found += [int(pid) for pid in linux.read_file(f"/proc/self/task/{task}/children").split()]
    except OSError:
        return []
    return found


def kill_descendants(on_reaped: Callable[[int, int], None], timeout: float = 5.0,
                     wait_for: list[int] = ()) -> bool:
    """SIGKILL every descendant and reap it; `on_reaped(pid, status)` for each child reaped.
    `wait_for`: children to wait for outright (cheaper than polling while they exit).

    Returns False if some survived `timeout` (a process stuck in uninterruptible sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = children()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reaped = 0
        for pid in wait_for:      # SIGKILLed: it exits without running anything more
            try:
                os.kill(pid, signal.SIGKILL)
                on_reaped(*os.waitpid(pid, 0))
                reaped += 1
            except (ChildProcessError, ProcessLookupError):
                pass
        wait_for = ()
        reaped += reap(on_reaped)
        if not pids and not reaped:
            return True
        if time.monotonic() > deadline:
            return False
        if not reaped:
            time.sleep(0.0005)   # killed, not yet dead: give the kernel a moment to finish the exit


def reap(on_reaped: Callable[[int, int], None]) -> int:
    """Collect every child that has exited, without waiting; returns how many."""
    count = 0
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return count
        if pid == 0:
            return count
        count += 1
        on_reaped(pid, status)
