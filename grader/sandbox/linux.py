"""Thin ctypes wrappers for the Linux calls the sandbox needs (unshare, mount, prctl).

Each raises `Unavailable` with a short reason when the platform or the privileges do not allow the
call, so the caller can report the protection as inactive instead of failing.
"""
from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38


class Unavailable(OSError):
    """This protection cannot be switched on here; str() says why."""


_libc = None


def _call(name: str, *args) -> int:
    global _libc
    if not sys.platform.startswith("linux"):
        raise Unavailable(f"not Linux ({sys.platform})")
    if _libc is None:   # the symbols already in the process (libc among them); no find_library
        _libc = ctypes.CDLL(None, use_errno=True)
    result = getattr(_libc, name)(*args)
    if result != 0:
        code = ctypes.get_errno()
        reason = "not root" if code == errno.EPERM and os.geteuid() != 0 else os.strerror(code)
        raise Unavailable(f"{name} failed: {reason}")
    return result


def unshare(flags: int) -> None:
    _call("unshare", ctypes.c_int(flags))


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: None if text is None else os.fsencode(text)  # noqa: E731
    _call("mount", encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data))


def prctl(option: int, value: int) -> None:
    _call("prctl", ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
          ctypes.c_ulong(0))


def read_file(path: str) -> bytes:
    """A small file (under /proc) read with plain os calls: in the fork server and a fresh child,
    every page a Python file object would write is a page copied after the fork."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def set_not_dumpable() -> None:
    """Same-uid processes can no longer read this process's /proc/<pid>/environ, mem or attach to it."""
    prctl(PR_SET_DUMPABLE, 0)


_plain_libc = None


def lean_fork() -> int:
    """fork(2) through libc, without CPython's work around os.fork. In the child that work resets
    `threading` and reseeds `random`: about 190 copied pages and 0.8 ms per student here, and
    only needed when other threads may hold locks. Used by the fork server, which has one thread;
    anywhere else, or where libc has no fork, this is os.fork. What the child then inherits as is:
    `random`'s state (every child of one server starts the same stream) and any signal that
    arrived just before the fork (its Python handler also runs in the child: the fork server's
    handlers do nothing)."""
    global _plain_libc
    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return os.fork()
    if _plain_libc is None:
        _plain_libc = ctypes.PyDLL(None, use_errno=True)   # PyDLL: the GIL stays held across the call
    fork = getattr(_plain_libc, "fork", None)
    if fork is None:
        return os.fork()
    pid = fork()
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork failed")
    return pid
