"""One unprivileged uid per concurrent sandbox, claimed with a lock file held for the sandbox's life.

Concurrent Sandboxes (batch grading, parallel test runs, several grader processes) each hold an
exclusive `flock` on a different slot file, so no two fork servers ever run student code under the
same uid: one student's processes can neither signal nor read another's.
"""
from __future__ import annotations

import fcntl
import os
import stat

UID_BASE = int(os.environ.get("GRADER_SANDBOX_UID_BASE", "62000"))
SLOTS = 512
LOCK_DIR = "/run/lock/grader-sandbox" if os.path.isdir("/run/lock") else "/tmp/grader-sandbox-locks"


class UidSlot:
    """A claimed uid (and gid of the same number); `release` or garbage collection frees it."""

    def __init__(self, uid: int, lock_fd: int) -> None:
        self.uid, self.lock_fd = uid, lock_fd

    def release(self) -> None:
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1


def _lock_dir() -> str:
    os.makedirs(LOCK_DIR, mode=0o755, exist_ok=True)
    info = os.lstat(LOCK_DIR)
    # a directory someone else could write into would let them pre-create or swap lock files
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise OSError(f"{LOCK_DIR} is not a private directory")
    return LOCK_DIR


def claim_uid() -> UidSlot:
    """The first free slot; raises OSError when none is free or the lock directory is unsafe."""
    directory = _lock_dir()
    for slot in range(SLOTS):
        uid = UID_BASE + slot
        fd = os.open(os.path.join(directory, f"{uid}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return UidSlot(uid, fd)
    raise OSError(f"all {SLOTS} sandbox uids are in use")
