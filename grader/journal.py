"""What a batch keeps between runs: the keys that say a grade is still valid, the journal of
grades (one JSON line per student, fsynced), and files replaced atomically."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from grader import __version__
from grader.exercise import Exercise

if TYPE_CHECKING:
    from grader.roster import Student

JOURNAL_VERSION = 1


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def config_hash(exercises: list[Exercise], *, seed: int | None, timeout: float | None,
                memory: int | None, variants: bool = False, limits: dict | None = None) -> str:
    """Everything besides the submission that decides a grade: the exercise files and the options."""
    described = []
    for exercise in exercises:
        try:
            definition = _sha256(Path(exercise.path).read_bytes())
        except OSError:
            definition = _sha256(repr(exercise).encode())
        described.append([exercise.id, definition, exercise.variants or variants])
    options = {"grader": __version__, "seed": seed, "timeout": timeout, "memory": memory,
               "exercises": described, **({"limits": limits} if limits else {})}
    return _sha256(json.dumps(options, sort_keys=True).encode())


def student_key(student: Student, source: bytes, config: str) -> str:
    return _sha256(config.encode(), student.name.encode(), student.label.encode(), source)


# ---- the journal ---------------------------------------------------------------------------------

class Journal:
    """JSON lines, one per graded student, appended as each finishes.

    Every line is flushed at once (it survives Ctrl-C and a killed process); fsync runs at most
    every `sync_every` seconds and on close, so a power cut loses at most that much work. A torn
    last line (killed mid-write) is ignored when reading."""

    def __init__(self, path: Path, sync_every: float = 1.0) -> None:
        self.path = path
        self.sync_every = sync_every
        self._file: TextIO | None = None
        self._last_sync = 0.0

    def load(self) -> dict[str, dict]:
        """The latest record per student (older lines of the same student lose)."""
        records: dict[str, dict] = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return records
        except (OSError, UnicodeDecodeError):
            return records          # unreadable: grade everyone again rather than trust it
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if (isinstance(record, dict) and record.get("journal") == JOURNAL_VERSION
                    and isinstance(record.get("student"), str) and isinstance(record.get("grades"), dict)):
                records[record["student"]] = record
        return records

    def append(self, record: dict) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
            if self._file.tell() and not self.path.read_bytes().endswith(b"\n"):
                self._file.write("\n")    # end a torn line so the next record stands alone
        self._file.write(json.dumps(record, allow_nan=False, default=str) + "\n")
        self._file.flush()
        if time.monotonic() - self._last_sync >= self.sync_every:
            os.fsync(self._file.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def rewrite(self, records: list[dict]) -> None:
        """Keep only the current records (drops stale lines from older runs), atomically."""
        self.close()
        write_atomic(self.path, "".join(json.dumps(r, allow_nan=False, default=str) + "\n" for r in records))


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file next to `path`, fsync, then rename: never a half-written file."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        # mkstemp makes the file private; a gradebook gets the mode any new file would get
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
