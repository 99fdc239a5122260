"""Resource limits of one student process, with defaults, from YAML keys and CLI flags."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    wall: float = 10.0                 # seconds per exercise (and for the import)
    cpu: float | None = None           # CPU seconds for the whole child; default: sum of wall budgets
    memory: int = 1024 * MiB           # bytes the student may allocate (address space over the baseline)
    processes: int = 32                # processes the sandbox uid may own (enforced after the uid drop)
    file_size: int = 16 * MiB          # largest file the child may write
    open_files: int = 64
    output: int = 64 * 1024            # bytes of stdout/stderr kept; the rest is counted and dropped

    def with_overrides(self, **changes) -> "Limits":
        changed = {k: v for k, v in changes.items() if v is not None and getattr(self, k, None) != v}
        return replace(self, **changed) if changed else self      # frozen: sharing is safe

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in _FIELDS}     # flat: no deep copy needed


_FIELDS = tuple(field.name for field in fields(Limits))


def parse_memory(value: object) -> int:
    """Bytes from an int or a string such as '512M', '1G', '1GiB'."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512M or 1G")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError("must be positive")
        return int(value)
    text = str(value).strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": 1024, "M": MiB, "G": 1024 * MiB}
    try:
        if text and text[-1] in units:
            number = float(text[:-1]) * units[text[-1]]
        else:
            number = float(text)
    except ValueError:
        raise ValueError(f"'{value}' is not a size such as 512M or 1G") from None
    if number <= 0:
        raise ValueError("must be positive")
    return int(number)


# The `limits:` mapping of an exercise file and the matching `grader check` flags.
LIMIT_KEYS = {
    "cpu": "CPU seconds for the student's process (default: the sum of the time limits)",
    "processes": "processes the student's code may run at once (default 32)",
    "file_size": "largest file it may write, e.g. 1M (default 16M)",
    "open_files": "open file descriptors (default 64)",
    "output": "bytes of printed output kept in the report, e.g. 64K (default 64K)",
}


def parse_limits(mapping: object) -> dict:
    """Limits overrides from an exercise's `limits:` mapping; ValueError names the bad key."""
    if not isinstance(mapping, dict):
        raise ValueError(f"a mapping with any of: {', '.join(LIMIT_KEYS)}")
    parsed = {}
    for key, value in mapping.items():
        if key not in LIMIT_KEYS:
            raise ValueError(f"unknown limit '{key}'; known limits: {', '.join(LIMIT_KEYS)}")
        parsed[key] = parse_limit(key, value)
    return parsed


def parse_limit(key: str, value: object) -> float | int:
    try:
        if key in ("file_size", "output"):
            return parse_memory(value)
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        number = float(value) if key == "cpu" else int(value)
    except ValueError as exc:
        raise ValueError(f"limit '{key}': {exc or 'expected a number'}") from None
    if number <= 0 or (key == "open_files" and number < 16):
        raise ValueError(f"limit '{key}' must be {'at least 16' if key == 'open_files' else 'positive'}")
    return number
