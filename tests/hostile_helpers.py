"""Helpers for the hostile-submission tests: a correct answer to build on, process inspection."""
from __future__ import annotations

import os
import sys
import textwrap

import pytest

CORRECT = """
import numpy as np

def sigmoid_derivative(x):
    s = 1 / (1 + np.exp(-np.asarray(x, dtype=float)))
    return s * (1 - s)
"""

# a daemon: a grandchild in its own session, sleeping long after the call returned
DAEMON = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
"""

# finds the fork server (the student's parent) and the grader (the fork server's parent)
FIND_SERVER_AND_GRADER = """
server = os.getppid()
with open(f"/proc/{server}/stat") as stat:
    grader = int(stat.read().rsplit(")", 1)[1].split()[1])
"""

IS_ROOT_LINUX = sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0


def namespaces(test):
    """Marks a test that needs root on Linux (uid drop, namespaces); skipped elsewhere."""
    test = pytest.mark.namespaces(test)
    return pytest.mark.skipif(not IS_ROOT_LINUX, reason="needs root on Linux (uid drop, namespaces)")(test)


def correct_with(prelude: str = "", inside: str = "") -> str:
    """The correct solution with hostile code at import (`prelude`) and/or inside the function."""
    body = textwrap.indent(textwrap.dedent(inside), "    ")
    return (textwrap.dedent(prelude) + "\nimport numpy as np\n\ndef sigmoid_derivative(x):\n" + body
            + "\n    s = 1 / (1 + np.exp(-np.asarray(x, dtype=float)))\n    return s * (1 - s)\n")


def processes_of_uid(uid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(name))
                        break
        except OSError:
            continue
    return found


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found += [int(p) for p in listing.read().split()]
    except OSError:
        pass
    return found


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as status:
            return dict(line.split(":", 1) for line in status.read().splitlines() if ":" in line)
    except OSError:
        return {}


def pristine_spare(box) -> int | None:
    """The fork server's announced spare (its next child, forked ahead), once it waits: None if
    there is none within 2 s. A spare is the server's child, asleep, with the server's uid."""
    import time
    server = box.process.pid
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        box._receive(0.02)              # the announcement follows the end of a run
        spare, mine, theirs = box.spare_pid, _status(box.spare_pid or 0), _status(server)
        if (spare in children_of(server) and mine.get("State", "").split()[:1] == ["S"]
                and mine.get("Uid") == theirs.get("Uid") and int(mine.get("PPid", 0)) == server):
            return spare
    return None


def leftover_children(box) -> list[int]:
    """The fork server's live children other than its pristine spare."""
    spare = pristine_spare(box)
    return zombie_free([pid for pid in children_of(box.process.pid) if pid != spare])


def zombie_free(pids: list[int]) -> list[int]:
    """Those of `pids` that are really running (not zombies waiting to be reaped)."""
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        except OSError:
            pass
    return alive
