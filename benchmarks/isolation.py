"""What isolation costs: the full isolated `grader check` against an unsafe in-process run, the
per-submission cost of the sandbox with every layer on, the cost of each layer, and a 200 MB print.

Run: python benchmarks/isolation.py [--runs N]   (prints a table; no assertions)
"""
from __future__ import annotations

import argparse
import compileall
import marshal
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "solution.py"

# The same calls as `grader check`, made unsafely in a fresh interpreter: no sandbox, no comparison.
UNSAFE = """
import marshal, sys, importlib.util
import numpy as np
from grader.transport import decode
from grader.functions import builtin_registry
from grader.expr import parse
registry = builtin_registry()
def function(name):
    return registry.callable(name) if name in registry else parse(name, registry=registry).as_callable("x")
def argument(node):
    if isinstance(node, dict) and "__fn__" in node:
        return function(node["__fn__"])
    if isinstance(node, dict) and any(isinstance(i, dict) and "__fn__" in i for i in node.get("items", [])):
        return [argument(i) for i in node["items"]]
    return decode(node)
spec = importlib.util.spec_from_file_location("solution", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
for entry, args in marshal.load(open(sys.argv[2], "rb")):     # as the sandbox's child receives them
    getattr(module, entry)(*[argument(a) for a in args])
"""


def median_seconds(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time of each command, run round-robin so that machine noise hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            started = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, cwd=ROOT)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def bank_runs():
    from grader.engine import _exercise_run, prepare
    from grader.loader import load_exercises
    from grader.plugin_manager import get_plugins
    plugins = get_plugins()
    return [_exercise_run(item, None, None) for item in prepare(load_exercises(None, plugins), plugins)]


def per_submission_ms(runs: list, repeats: int, configurations: dict[str, set],
                      source: str | None = None) -> tuple[dict[str, float], float]:
    """Median ms of Sandbox.run per configuration (name -> protections switched off), measured
    round-robin so that load from other processes hits every configuration alike; and the boot
    time of the first fork server."""
    from grader.sandbox.client import Sandbox
    source = source if source is not None else EXAMPLE.read_text()
    hidden = [str(ROOT / "exercises")]
    started = time.perf_counter()
    boxes = {}
    try:
        for name, disable in configurations.items():
            boxes[name] = Sandbox(disable=disable)
            boxes[name].wait_ready()
            if len(boxes) == 1:
                boot = (time.perf_counter() - started) * 1000
        times: dict[str, list[float]] = {name: [] for name in boxes}
        for round_ in range(repeats + 3):
            for name, box in boxes.items():
                t = time.perf_counter()
                outcome = box.run(source, str(EXAMPLE), runs, hidden_paths=hidden)
                if round_ >= 3:                       # the first rounds warm up
                    times[name].append((time.perf_counter() - t) * 1000)
                assert all(o.status == "ok" for ex in outcome.outcomes for o in ex), "the example did not run"
    finally:
        for box in boxes.values():
            box.close()
    return {name: statistics.median(values) for name, values in times.items()}, boot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="subprocess runs per median (default 15)")
    parser.add_argument("--repeats", type=int, default=60, help="Sandbox.run calls per median (default 60)")
    options = parser.parse_args()
    # byte-compile the source tree as `pip install` does, so neither side pays for compiling our
    # modules at every start (PYTHONDONTWRITEBYTECODE may be set, and an editable install has no pyc)
    compileall.compile_dir(str(ROOT / "grader"), quiet=1)
    compileall.compile_dir(str(ROOT / "plugins"), quiet=1)
    runs = bank_runs()
    from grader.sandbox.hardening import OPTIONAL
    calls = [[call.entry, call.args] for run in runs for call in run.calls]
    with tempfile.TemporaryDirectory() as scratch:
        calls_file = Path(scratch) / "calls.marshal"
        calls_file.write_bytes(marshal.dumps(calls))
        medians = median_seconds({
            "unsafe": [sys.executable, "-c", UNSAFE, str(EXAMPLE), str(calls_file)],
            "isolated": [sys.executable, "-m", "grader", "check", str(EXAMPLE)],
            "bare": [sys.executable, "-c", "import numpy"]}, options.runs)
    unsafe, isolated, bare = medians["unsafe"], medians["isolated"], medians["bare"]

    configurations = {"all": set(), **{key: {key} for key in OPTIONAL}, "none": set(OPTIONAL)}
    timings, boot = per_submission_ms(runs, options.repeats, configurations)
    full = timings["all"]
    print(f"{'whole check of examples/solution.py (median of %d)' % options.runs:<58}{'ms':>8}")
    floor = "  python -c 'import numpy' (floor of any fresh process)"
    print(f"{floor:<58}{bare * 1000:8.0f}")
    print(f"{'  unsafe: fresh interpreter + numpy + the calls in-process':<58}{unsafe * 1000:8.0f}")
    print(f"{'  isolated: grader check (everything, every layer on)':<58}{isolated * 1000:8.0f}")
    print(f"{'  ratio isolated / unsafe (target <= 2)':<58}{isolated / unsafe:8.2f}\n")
    print(f"{'per submission, Sandbox.run, warm (median of %d)' % options.repeats:<58}{'ms':>8}")
    print(f"{'  every layer on (target <= 15)':<58}{full:8.2f}")
    print(f"{'  fork server start-up (once per Sandbox)':<58}{boot:8.0f}")
    for key, name in OPTIONAL.items():
        print(f"{'  cost of ' + name:<58}{full - timings[key]:8.2f}")
    print(f"{'  every optional layer off (rlimits, fork, transport only)':<58}{timings['none']:8.2f}\n")

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loud = EXAMPLE.read_text() + "\nimport sys\nfor _ in range(200):\n    sys.stdout.write('x' * 2**20)\n"
    loud_ms = per_submission_ms(runs, 3, {"all": set()}, source=loud)[0]["all"]
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"{'a submission printing 200 MB at import (median of 3)':<58}{loud_ms:8.0f} ms")
    print(f"{'  growth of the grader process peak memory':<58}{grown:8.1f} MiB")


if __name__ == "__main__":
    main()
