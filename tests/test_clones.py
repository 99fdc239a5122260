"""Fork servers cloned from one start-up (Sandbox.several): as separate as servers booted apart,
watched although they are not the grader's children, and replaced when they fail."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import grader_for, statuses
from hostile_helpers import CORRECT, DAEMON, correct_with, leftover_children, namespaces, pristine_spare

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
    pipes_of = {}
    for box in trio:
        pid = box.process.pid
        pristine_spare(box)             # announced once its socket pair is closed on this side
        targets = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        sockets = [t for t in targets.values() if t.startswith("socket:")]
        locks = [t for t in targets.values() if t.endswith(".lock")]
        # its control socket, and the one its spare (the next child, forked ahead) waits on
        assert len(sockets) == 1 + (pristine_spare(box) is not None)
        assert locks == ([f"{os.path.dirname(locks[0])}/{box.slot.uid}.lock"] if box.slot else [])
        pipes = {t for t in targets.values() if t.startswith("pipe:")}
        assert targets[2].startswith("pipe:") and len(pipes) == 2      # its stderr, its wake-up pipe
        pipes_of[pid] = pipes
    everyone = [p for pipes in pipes_of.values() for p in pipes]
    assert len(everyone) == len(set(everyone)), "a pipe is shared between servers"


@namespaces
@pidfds
def test_clones_have_their_own_namespaces_and_uids(trio):
    def namespace(box, kind):
        return os.readlink(f"/proc/{box.process.pid}/ns/{kind}")
    for kind in ("net", "mnt"):
        assert len({namespace(box, kind) for box in trio}) == 3, kind
    for box in trio:
        active, inactive = box.protections
        assert "network namespace" in active and "mount namespace" in active and "descendants killed" in active


@namespaces
@pidfds
def test_each_servers_students_run_as_that_servers_own_uid(trio, tmp_path, plugins, bank):
    uids = set()
    for box in trio:
        report = _grade(box, tmp_path, plugins, bank, "import os\nprint(os.getuid(), os.getgid())\n" + CORRECT)
        assert statuses(report) == {ONE: "passed"}
        assert report.output.splitlines()[0] == f"{box.slot.uid} {box.slot.uid}"
        uids.add(box.slot.uid)
    assert len(uids) == 3


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
        assert leftover_children(box) == []
    first.process.kill()
    first.process.wait()
    for box in clones:
        assert box.process.poll() is None
        assert statuses(_grade(box, tmp_path, plugins, bank, CORRECT)) == {ONE: "passed"}
    assert [box.process.pid for box in clones] == pids      # never restarted


def _poll_until_gone(process, within: float = 5.0):
    deadline = time.monotonic() + within
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return process.poll()


@pidfds
def test_a_clone_killed_from_outside_is_noticed_and_replaced(trio, tmp_path, plugins, bank):
    clone = trio[1]
    pid = clone.process.pid
    assert clone.process.poll() is None
    os.kill(pid, signal.SIGKILL)
    assert _poll_until_gone(clone.process) == -1
    assert statuses(_grade(clone, tmp_path, plugins, bank, CORRECT)) == {ONE: "passed"}
    assert clone.process.pid != pid and clone.process.poll() is None


@pidfds
def test_a_clone_is_killed_through_its_pidfd(trio):
    clone = trio[2]
    pid = clone.process.pid
    clone.process.kill()
    assert clone.process.wait(timeout=5) == -1
    assert _gone(pid)


@pidfds
def test_a_clone_that_died_before_it_was_watched_is_replaced(tmp_path, plugins, bank):
    # its pid may name another process by then: the closed socket tells
    boxes = Sandbox.several(2)
    try:
        clone = boxes[1]
        ready = clone._wait_for("ready")
        clone.inbox.insert(0, ready)
        os.kill(ready["pid"], signal.SIGKILL)
        assert _gone(ready["pid"])
        with subprocess.Popen(["sleep", "30"]) as stranger:     # whatever the pid names now
            ready["pid"] = stranger.pid
            clone.wait_ready()
            assert isinstance(clone.process, subprocess.Popen) and clone.process.pid != stranger.pid
            assert statuses(_grade(clone, tmp_path, plugins, bank, CORRECT)) == {ONE: "passed"}
            clone.close()
            assert stranger.poll() is None                      # never signalled
            stranger.kill()
    finally:
        for box in boxes:
            box.close()


def test_clones_whose_first_server_dies_before_forking_them_boot_on_their_own(tmp_path, plugins, bank):
    boxes = Sandbox.several(3)
    try:
        boxes[0].process.kill()         # long before its preload is done
        boxes[0].process.wait()
        for box in boxes:
            assert statuses(_grade(box, tmp_path, plugins, bank, CORRECT)) == {ONE: "passed"}
            assert isinstance(box.process, subprocess.Popen)
    finally:
        for box in boxes:
            box.close()


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
def test_closing_returns_once_the_clone_is_gone():
    boxes = Sandbox.several(2)
    for box in boxes:
        box.wait_ready()
    pids = [box.process.pid for box in boxes]
    for box in boxes:
        box.close()
        assert _gone(box.process.pid, within=0.5)
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


def test_a_failed_start_leaves_no_socket_open_and_no_uid_claimed(monkeypatch):
    from grader.sandbox import slots

    def no_more_processes(*args, **kwargs):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    def free_uid():
        try:
            slot = slots.claim_uid()
        except OSError:
            return None
        slot.release()
        return slot.uid

    before_uid, before_fds = free_uid(), sorted(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(client.subprocess, "Popen", no_more_processes)
    with pytest.raises(BlockingIOError):
        Sandbox.several(3)
    assert free_uid() == before_uid
    assert sorted(os.listdir("/proc/self/fd")) == before_fds
