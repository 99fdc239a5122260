"""The students of a class directory: one `<name>.py` file or `<name>/` folder each.

Kept free of numpy and the engine, so `grader batch` can count the students and boot the fork
servers before the heavy imports."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Student:
    name: str                       # the file stem or folder name; also the variant seed
    path: Path | None               # the solution file, or None when it cannot be chosen
    label: str                      # path relative to the class directory, shown in reports
    problem: str = ""               # why no solution file could be chosen


def discover_students(directory: Path, filename: str | None = None) -> list[Student]:
    """`<name>.py` files and `<name>/` folders directly inside `directory`, sorted by name."""
    found: dict[str, list[Student]] = {}
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith((".", "_")):
            continue                # .git, __pycache__, editor droppings
        if entry.is_file() and entry.suffix == ".py":
            found.setdefault(entry.stem, []).append(Student(entry.stem, entry, entry.name))
        elif entry.is_dir():
            found.setdefault(entry.name, []).append(_folder_student(entry, filename))
    students = []
    for name, candidates in sorted(found.items()):
        if len(candidates) > 1:
            students.append(Student(name, None, name, f"both {name}.py and {name}/ exist; keep one"))
        else:
            students.append(candidates[0])
    return students


def _folder_student(folder: Path, filename: str | None) -> Student:
    python_files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix == ".py")
    listing = ", ".join(python_files) or "no .py file"
    if filename:
        chosen = folder / filename
        if chosen.is_file():
            return Student(folder.name, chosen, f"{folder.name}/{filename}")
        return Student(folder.name, None, folder.name + "/", f"no {filename} in {folder.name}/ (found: {listing})")
    if len(python_files) == 1:
        return Student(folder.name, folder / python_files[0], f"{folder.name}/{python_files[0]}")
    if not python_files:
        return Student(folder.name, None, folder.name + "/", f"{folder.name}/ holds no .py file")
    return Student(folder.name, None, folder.name + "/",
                   f"{folder.name}/ holds several .py files ({listing}); choose one with --filename")
