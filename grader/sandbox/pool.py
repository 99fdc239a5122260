"""One fork server per worker thread of `grader batch`."""
from __future__ import annotations

import threading
from typing import Callable


def servers_for(jobs: int, students: int) -> int:
    """No more fork servers than students: each is an interpreter holding numpy."""
    return min(jobs, max(1, students))


class SandboxPool:
    """One fork server per worker thread. The servers boot at once (in parallel with loading the
    exercises); a thread takes one on first use and gets a fresh one if student code killed it."""

    def __init__(self, size: int, factory: Callable | None = None) -> None:
        if factory is None:
            from grader.sandbox.client import Sandbox
            factory = Sandbox
            self._free = Sandbox.several(size)      # one interpreter start-up for all of them
        else:
            self._free = [factory() for _ in range(size)]
        self._factory = factory
        self._all = list(self._free)
        self._lock = threading.Lock()
        self._local = threading.local()

    def get(self):
        sandbox = getattr(self._local, "sandbox", None)
        if sandbox is not None and sandbox.process.poll() is not None:
            sandbox.close()             # the fork server died: never reuse it (its uid is freed)
            sandbox = None
        if sandbox is None:
            with self._lock:
                sandbox = self._free.pop() if self._free else None
            if sandbox is None:
                sandbox = self._factory()
                with self._lock:
                    self._all.append(sandbox)
            self._local.sandbox = sandbox
        return sandbox

    def close(self, wait: bool = True) -> None:
        """Stop every fork server; `wait=False` for a command about to exit (see Sandbox.close)."""
        with self._lock:
            sandboxes, self._all, self._free = self._all, [], []
        for sandbox in sandboxes:
            try:
                sandbox.close(wait=wait)
            except Exception:      # closing must go on for the others
                pass
