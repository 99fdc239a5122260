"""Fork servers cloned from one start-up (Sandbox.several): as separate as servers booted apart,
watched although they are not the grader's children, and replaced when they fail."""
from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest

from conftest import grader_for, statuses
from hostile_helpers import CORRECT, DAEMON, correct_with, namespaces, zombie_free, children_of

from grader.sandbox import client
from grader.sandbox.client import ClonedServer, Sandbox
from grader.sandbox.pool import SandboxPool

ONE = "sigmoid-derivative"
WRONG = "def sigmoid_derivative(x):\n    return x * 0 + 1.0\n"
pidfds = pytest.mark.skipif(not client._pidfds_work(), reason="pidfds need Linux 5.3 or later")


@pytest.fixture
def trio():
    boxes = Sandbox.several(3)
    try:
        for box in boxes:
            box.wait_ready()
        yield boxes
    finally:
        for box in boxes:
            box.close()


def _grade(box, tmp_path, plugins, bank, source):
    return grader_for(tmp_path, plugins, bank, box, default_ids=(ONE,), timeout=2.0)(source)


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


@pidfds
def test_the_servers_after_the_first_are_clones_nobody_descends_from(trio):
    first, *clones = trio
    assert isinstance(first.process, subprocess.Popen)
    assert all(isinstance(box.process, ClonedServer) for box in clones)
    pids = [box.process.pid for box in trio]
    assert len(set(pids)) == 3
    for box in clones:
        # not the first server's child (its tree kill would reach it) nor the grader's
        assert _parent(box.process.pid) not in pids + [os.getpid()]
        assert box.process.poll() is None


@pidfds
def test_every_server_holds_only_its_own_socket_lock_and_pipes(trio):
    for box in trio:
        fds = os.listdir(f"/proc/{box.process.pid}/fd")
        targets = [os.readlink(f"/proc/{box.process.pid}/fd/{fd}") for fd in fds]
        sockets = [t for t in targets if t.startswith("socket:")]
        locks = [t for t in targets if t.endswith(".lock")]
        assert len(sockets) == 1
        assert locks == ([f"{os.path.dirname(locks[0])}/{box.slot.uid}.lock"] if box.slot else [])


@namespaces
@pidfds
def test_clones_have_their_own_namespaces_and_uids(trio):
    def namespace(box, kind):
        return os.readlink(f"/proc/{box.process.pid}/ns/{kind}")
    for kind in ("net", "mnt"):
        assert len({namespace(box, kind) for box in trio}) == 3, kind
    assert len({box.slot.uid for box in trio}) == 3
    for box in trio:
        active, inactive = box.protections
        assert "network namespace" in active and "mount namespace" in active and "descendants killed" in active


@pidfds
def test_each_clone_grades_right_and_outlives_the_first_server(trio, tmp_path, plugins, bank):
    first, *clones = trio
    pids = [box.process.pid for box in clones]
    # the first server's clean-up kills all its descendants: the clones are none of them
    assert statuses(_grade(first, tmp_path, plugins, bank, correct_with(inside=DAEMON))) == {ONE: "passed"}
    assert [box.process.poll() for box in clones] == [None, None]
    for box in clones:
        assert statuses(_grade(box, tmp_path, plugins, bank, CORRECT)) == {ONE: "passed"}
        assert statuses(_grade(box, tmp_path, plugins, bank, WRONG)) == {ONE: "failed"}
        assert zombie_free(children_of(box.process.pid)) == []
    first.process.kill()
    first.process.wait()
    for box in clones:
        assert box.process.poll() is None
        assert statuses(_grade(box, tmp_path, plugins, bank, CORRECT)) == {ONE: "passed"}
    assert [box.process.pid for box in clones] == pids      # never restarted


@pidfds
def test_a_killed_clone_is_noticed_and_replaced(trio, tmp_path, plugins, bank):
    clone = trio[1]
    pid = clone.process.pid
    clone.process.kill()
    assert clone.process.wait(timeout=5) == -1 and clone.process.poll() == -1
    assert statuses(_grade(clone, tmp_path, plugins, bank, CORRECT)) == {ONE: "passed"}
    assert clone.process.pid != pid and clone.process.poll() is None


@pidfds
def test_the_pool_replaces_a_dead_clone():
    pool = SandboxPool(2)
    try:
        taken = [pool.get()]        # one per thread: take the clone from a second thread
        import threading
        thread = threading.Thread(target=lambda: taken.append(pool.get()))
        thread.start()
        thread.join()
        clone = next(box for box in taken if isinstance(box.process, ClonedServer))
        clone.wait_ready()
        clone.process.kill()
        clone.process.wait(timeout=5)
        pool._local.sandbox = clone     # as if this thread had been using it
        replacement = pool.get()
        assert replacement is not clone and replacement.process.poll() is None
    finally:
        pool.close()


@pidfds
def test_closing_ends_every_clone():
    boxes = Sandbox.several(2)
    for box in boxes:
        box.wait_ready()
    pids = [box.process.pid for box in boxes]
    for box in boxes:
        box.close()
    assert all(_gone(pid) for pid in pids)


def test_a_clone_that_never_comes_up_is_replaced_by_a_server_of_its_own(tmp_path, plugins, bank):
    box = Sandbox(boot=False)
    ours, theirs = socket.socketpair()
    theirs.close()                      # the clone died before saying it was ready
    box._attach(ours, ClonedServer(None))
    try:
        box.wait_ready()
        assert isinstance(box.process, subprocess.Popen) and box.process.poll() is None
        assert statuses(_grade(box, tmp_path, plugins, bank, CORRECT)) == {ONE: "passed"}
    finally:
        box.close()


def test_without_pidfds_every_server_boots_on_its_own(monkeypatch, tmp_path, plugins, bank):
    monkeypatch.setattr(client, "_pidfds_work", lambda: False)
    boxes = Sandbox.several(2)
    try:
        assert all(isinstance(box.process, subprocess.Popen) for box in boxes)
        for box in boxes:
            assert statuses(_grade(box, tmp_path, plugins, bank, CORRECT)) == {ONE: "passed"}
    finally:
        for box in boxes:
            box.close()
