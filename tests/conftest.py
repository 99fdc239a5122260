"""Shared fixtures: the plugins, the bundled bank prepared once, one fork server for the session."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "solution.py"


@pytest.fixture(scope="session")
def plugins():
    from grader.plugin_manager import get_plugins
    return get_plugins()


@pytest.fixture(scope="session")
def bank(plugins):
    from grader.engine import prepare
    from grader.loader import load_exercises
    return {item.exercise.id: item for item in prepare(load_exercises(None, plugins), plugins)}


@pytest.fixture(scope="session")
def sandbox():
    from grader.sandbox.client import Sandbox
    with Sandbox() as box:
        yield box


def grader_for(tmp_path, plugins, bank, sandbox, default_ids=(), **defaults):
    """A function grade(source, *ids, **options) -> SubmissionReport on this sandbox; without ids,
    `default_ids`, or the whole bank."""
    from grader.engine import grade_submission

    def run(source: str, *ids: str, name: str = "solution.py", **options):
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        chosen = ids or default_ids
        prepared = [bank[i] for i in chosen] if chosen else list(bank.values())
        return grade_submission(path, prepared, plugins, sandbox, **{**defaults, **options})
    return run


@pytest.fixture
def grade(tmp_path, plugins, bank, sandbox):
    """grade(source, *ids, **options) -> SubmissionReport; the whole bank when no id is given."""
    return grader_for(tmp_path, plugins, bank, sandbox)


def statuses(report) -> dict[str, str]:
    return {e.id: e.status for e in report.exercises}


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


@pytest.fixture
def example_source() -> str:
    return EXAMPLE.read_text()
