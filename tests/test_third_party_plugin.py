"""The example third-party plugin (examples/plugin-jacobian): a new kind and function through the
`grader.plugins` entry point, from a real install; broken plugins are reported by name."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

PLUGIN = ROOT / "examples" / "plugin-jacobian"


@pytest.fixture
def jacobian_plugins(monkeypatch):
    """The plugin registered through the same path as an entry point (no install)."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    import grader_jacobian
    from grader.plugin_manager import Plugins, build_plugin_manager
    return Plugins(*build_plugin_manager(entry_points=False, extra=(grader_jacobian,)))


def test_the_plugin_adds_a_kind_and_a_function(jacobian_plugins):
    assert "jacobian" in jacobian_plugins.kinds and "gelu" in jacobian_plugins.functions
    from grader import numeric
    from grader.expr import parse
    x = np.linspace(-3, 3, 13)
    gelu = parse("gelu(x)", registry=jacobian_plugins.functions)
    h = 1e-20  # complex step: the derivative rule agrees with the value to rounding
    assert np.allclose(gelu.gradient("x", x=x), np.imag(gelu.evaluate(x=x + 1j * h)) / h, rtol=1e-12)
    assert numeric.derivative(gelu, np.array(0.0)) == pytest.approx(0.5)


def test_jacobian_reference_is_diag_sigma_prime_times_w(jacobian_plugins):
    from grader.engine import prepare
    from grader.loader import load_exercises
    (item,) = prepare(load_exercises([PLUGIN / "exercises"], jacobian_plugins), jacobian_plugins)
    assert len(item.cases) == 4
    for case in item.cases:
        x, W, sigma = case.args
        slope = np.asarray(jacobian_plugins.functions.get(str(sigma)).derivative(np.asarray(W) @ x))
        assert case.expected.shape == np.shape(W)
        assert np.allclose(case.expected, slope[:, None] * np.asarray(W), rtol=1e-13, atol=1e-15)


def test_grades_a_jacobian_exercise_in_the_sandbox(tmp_path, jacobian_plugins, sandbox):
    """Functions the student receives come from the sandbox's own plugins, so only built-ins here."""
    from grader.engine import grade_submission, prepare
    from grader.loader import load_exercises
    exercise = (PLUGIN / "exercises" / "jacobian-layer.yaml").read_text().replace("gelu", "tanh")
    (tmp_path / "ex.yaml").write_text(exercise)
    prepared = prepare(load_exercises([tmp_path / "ex.yaml"], jacobian_plugins), jacobian_plugins)
    statuses = {}
    for name in ("model.py", "wrong.py"):
        report = grade_submission(PLUGIN / "solutions" / name, prepared, jacobian_plugins, sandbox)
        statuses[name] = report.exercises[0].status
    assert statuses == {"model.py": "passed", "wrong.py": "failed"}


def fake_distribution(site: Path, name: str, module_source: str) -> None:
    """What pip leaves behind for a plugin: a module and a dist-info with its entry point."""
    (site / f"{name}.py").write_text(textwrap.dedent(module_source))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[grader.plugins]\n{name} = {name}\n")


def run_grader(*args: str, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_broken_plugins_are_reported_by_name(tmp_path):
    fake_distribution(tmp_path, "broken_import", "raise ImportError('needs torch')\n")
    fake_distribution(tmp_path, "broken_register", """\
        from grader import hookimpl

        @hookimpl
        def grader_register_kinds(registry):
            registry.add(object())
        """)
    done = run_grader("plugins", site=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "plugin 'broken_import' failed to load: ImportError: needs torch" in done.stderr
    assert "plugin 'broken_register' failed to load" in done.stderr and "without a name" in done.stderr
    # the rest keeps working: the bundled bank still grades
    check = run_grader("check", str(ROOT / "examples" / "solution.py"), site=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_installed_with_pip_it_grades_and_validates(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    source = tmp_path / "plugin-jacobian"  # a copy: pip builds in the tree (build/, *.egg-info)
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(source)],
                             capture_output=True, text=True, timeout=300)
    if install.returncode != 0 and "No matching distribution" in install.stderr:
        pytest.skip(f"no build backend available offline: {install.stderr.strip()[-200:]}")
    assert install.returncode == 0, install.stderr

    def grader(*args):
        return subprocess.run([python, "-m", "grader", *args], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)

    listed = grader("plugins")
    assert "jacobian" in listed.stdout and "gelu (elementwise, from plugin 'jacobian')" in listed.stdout
    exercises = str(PLUGIN / "exercises")
    assert grader("check", str(PLUGIN / "solutions" / "model.py"), "--exercises", exercises).returncode == 0
    wrong = grader("check", str(PLUGIN / "solutions" / "wrong.py"), "--exercises", exercises)
    assert wrong.returncode == 1 and "FAIL    jacobian-layer" in wrong.stdout
    validated = grader("validate", exercises)
    assert validated.returncode == 0, validated.stdout + validated.stderr
