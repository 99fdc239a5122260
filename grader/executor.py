"""The seam through which `grader batch` schedules students onto workers (threads today).

An executor takes a function and the items to apply it to, and yields the results in the order
they finish. That is the whole contract, so another engine can be plugged in without touching
the batch logic:

* `ThreadExecutor(jobs)` (the default) runs `jobs` worker threads in this process. Running one
  student is mostly blocking I/O on a sandbox's fork server, so threads parallelise well; every
  thread lazily owns its own `Sandbox` (see `grader.sandbox.pool.SandboxPool`).
* A Dask or Ray executor would implement `map_unordered` with `client.map` + `as_completed`
  (Dask) or `ray.util.ActorPool.map_unordered` (Ray). The function it receives is a plain
  callable of one item; each remote worker then holds its own sandbox pool. What comes back is
  what the sandbox sent (plain data): the verdicts are decided and journaled in the parent,
  which alone holds the references. Exceptions inside `fn` are the function's business: the
  batch passes a function that never raises for a student's sake.

Stopping: `stop()` (safe from a signal handler) makes `map_unordered` return within a fraction
of a second; no item starts afterwards and results that finish later are never yielded (they may
be half-done). Work still in flight is the caller's to end (the batch closes the sandboxes).
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Iterable, Iterator, Protocol, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_DONE = object()


class Executor(Protocol):
    def map_unordered(self, fn: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        """fn(item) for every item, yielded as each finishes (any order)."""

    def stop(self) -> None:
        """Start no new item; pending and in-flight results are dropped."""


class ThreadExecutor:
    """`jobs` daemon worker threads pulling items from a queue; results come back on another."""

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.jobs = jobs
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def map_unordered(self, fn: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        todo: queue.SimpleQueue = queue.SimpleQueue()
        done: queue.SimpleQueue = queue.SimpleQueue()
        count = 0
        for item in items:
            todo.put(item)
            count += 1
        workers = min(self.jobs, count)
        for _ in range(workers):
            todo.put(_DONE)

        def work() -> None:
            # daemon threads: a worker stuck in a student's run never keeps the process alive
            while not self._stopped.is_set():
                item = todo.get()
                if item is _DONE:
                    break
                try:
                    done.put((True, fn(item)))
                except BaseException as exc:   # surfaced in the caller's thread, not lost
                    done.put((False, exc))
            done.put((None, _DONE))

        threads = [threading.Thread(target=work, name=f"grader-worker-{i}", daemon=True)
                   for i in range(workers)]
        for thread in threads:
            thread.start()
        finished = 0
        try:
            while finished < workers and not self._stopped.is_set():
                try:
                    # a short timeout keeps the main thread responsive to Ctrl-C
                    ok, value = done.get(timeout=0.2)
                except queue.Empty:
                    continue
                if value is _DONE:
                    finished += 1
                elif self._stopped.is_set():
                    break           # in-flight work may be half-done: never yield it
                elif ok:
                    yield value
                else:
                    raise value
        finally:
            self.stop()
