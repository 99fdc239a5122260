"""Speed of `grader batch` against the classroom-CI way: one `python -m pytest` per student.

Run `python benchmarks/batch.py [--students 240] [--jobs 2] [--rounds 3] [--pytest-sample 10]`. It generates a
class into a temporary directory from examples/solution.py (about half correct, half with one or
two of the course's typical mistakes), grades it once with `grader batch` (the whole bank, the
command as an instructor runs it, start-up included), then a class twice as large, whose extra
time gives the rate once started (start-up is paid once per command); both `--rounds` times,
alternately, medians shown. Then it times `python -m pytest` on a small numpy test file for a
sample of students and extrapolates per student. The source tree is byte-compiled first, as `pip install` does. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import compileall
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "solution.py"

# (original text, mistaken text): the mistakes the course's diagnoses talk about
MUTATIONS = [
    ("/ (2 * delta)", "/ delta"),                                   # one-sided scale: factor 2
    ("return s * (1 - s)", "return s * (1 + s)"),                    # wrong sigmoid derivative
    ("def du_dx(x):\n    return 2 * x", "def du_dx(x):\n    return x"),
    ("return df1dx * df2du\n", "return df2du\n"),                    # missing inner factor
    ("def matmul_backward_first(X, W):\n    return np.transpose(W, (1, 0))",
     "def matmul_backward_first(X, W):\n    return W"),                # not transposed
    ("return dsda * dadx, dsda * dady", "return dsda * dadx, -dsda * dady"),
    ("return np.dot(dLdN, dNdX)", "return np.dot(dLdN, dNdX).T"),   # transposed answer
]

PYTEST_FILE = '''\
import importlib.util
import numpy as np

spec = importlib.util.spec_from_file_location("student", {path!r})
student = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_sigmoid_derivative():
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(student.sigmoid_derivative(x), sigmoid(x) * (1 - sigmoid(x)), rtol=1e-3)


def test_deriv():
    x = np.linspace(-2, 2, 5)
    np.testing.assert_allclose(student.deriv(np.square, x), 2 * x, rtol=1e-3, atol=1e-4)
'''


def generate_class(directory: Path, count: int, seed: int = 0) -> dict[str, int]:
    """`count` students; returns how many mistakes each one's file carries."""
    rng = random.Random(seed)
    source = EXAMPLE.read_text()
    mistakes = {}
    for index in range(count):
        name = f"student{index:04d}"
        text = f"# {name}'s solution\n" + source        # no two files alike, as in a real class
        chosen = [] if rng.random() < 0.5 else rng.sample(MUTATIONS, rng.choice([1, 2]))
        for original, mistaken in chosen:
            assert original in text, original
            text = text.replace(original, mistaken)
        if index % 10 == 3:         # some students hand in a folder
            (directory / name).mkdir()
            (directory / name / "solution.py").write_text(text)
        else:
            (directory / f"{name}.py").write_text(text)
        mistakes[name] = len(chosen)
    return mistakes


def _busy_cpu() -> float:
    """CPU seconds the machine spent busy (all cores), from /proc/stat: the fork servers cloned
    from the first one are nobody's children, so getrusage(RUSAGE_CHILDREN) misses them and their
    students. Run on an otherwise idle machine; elsewhere, finished children only."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime


def _median(timings: list[tuple[float, float]]) -> tuple[float, float]:
    """The median wall time and the median CPU time, each on its own."""
    middle = len(timings) // 2
    return (sorted(t[0] for t in timings)[middle], sorted(t[1] for t in timings)[middle])


def time_grader(directory: Path, jobs: int, out: Path, *extra: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `grader batch` of the whole class, from scratch."""
    for previous in (out, out.with_name(out.name + ".journal")):    # no resuming from a journal
        previous.unlink(missing_ok=True)
    cpu, started = _busy_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "grader", "batch", str(directory), "--jobs", str(jobs),
                           "--out", str(out), *extra], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"grader batch failed ({done.returncode}):\n{done.stderr}")
    return seconds, _busy_cpu() - cpu


def time_pytest(directory: Path, students: list[str], work: Path) -> tuple[float, float]:
    """(wall, CPU) seconds for `python -m pytest` once per student, one after the other, as CI does."""
    cpu, started = _busy_cpu(), time.perf_counter()
    for name in students:
        path = directory / f"{name}.py"
        if not path.exists():
            path = directory / name / "solution.py"
        test = work / f"test_{name}.py"
        test.write_text(PYTEST_FILE.format(path=str(path)))
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
                       capture_output=True, text=True, cwd=work)
    return time.perf_counter() - started, _busy_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=240)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pytest-sample", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="timings of each class (medians are shown)")
    args = parser.parse_args()
    for package in ("grader", "plugins"):   # neither side pays for compiling our modules
        compileall.compile_dir(str(ROOT / package), quiet=1)
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as temporary:
        root = Path(temporary)
        directory, work, double = root / "class", root / "pytest", root / "double"
        for folder in (directory, work, double):
            folder.mkdir()
        mistakes = generate_class(directory, args.students)
        generate_class(double, 2 * args.students, seed=1)
        out = root / "gradebook.csv"
        # the two classes alternately, `rounds` times: medians, so that one slow moment of a shared
        # machine does not decide the rate once started (a difference of two timings)
        singles, doubles = [], []
        for _ in range(args.rounds):
            singles.append(time_grader(directory, args.jobs, out))
            doubles.append(time_grader(double, args.jobs, root / "double.csv"))
        grader_seconds, grader_cpu = _median(singles)
        double_seconds, double_cpu = _median(doubles)
        variant_seconds, variant_cpu = time_grader(directory, args.jobs, root / "variants.csv", "--variants")
        with open(out, newline="") as stream:
            rows = {row["student"]: row for row in csv.DictReader(stream)}
        # sanity: every correct file has full marks, every mutated one has lost points
        wrong = [name for name, count in mistakes.items()
                 if (float(rows[name]["score"]) == float(rows[name]["max_score"])) != (count == 0)]
        if wrong or len(rows) != args.students:
            raise SystemExit(f"gradebook is wrong for {wrong[:5]} ({len(rows)} rows)")
        sample = sorted(mistakes)[:args.pytest_sample]
        pytest_seconds, pytest_cpu = time_pytest(directory, sample, work)
    per_grader, cpu_grader = grader_seconds / args.students, grader_cpu / args.students
    per_pytest, cpu_pytest = pytest_seconds / len(sample), pytest_cpu / len(sample)
    per_variant, cpu_variant = variant_seconds / args.students, variant_cpu / args.students
    # the second class's extra students cost this much each: the rate once the command runs
    per_started = (double_seconds - grader_seconds) / args.students
    cpu_started = (double_cpu - grader_cpu) / args.students
    load = os.getloadavg()[0]
    print(f"class of {args.students} students ({sum(c == 0 for c in mistakes.values())} correct), "
          f"{args.jobs} jobs, {os.cpu_count()} cores, load average {load:.1f}, Python {sys.version.split()[0]}, "
          f"medians of {args.rounds} rounds\n")
    print("| way | wall per student | students/s | CPU per student |")
    print("|---|---:|---:|---:|")
    print(f"| `grader batch` (9 exercises, 62 checks, sandboxed; whole command) | {per_grader * 1000:.1f} ms "
          f"| {1 / per_grader:.1f} | {cpu_grader * 1000:.1f} ms |")
    print(f"| `grader batch`, once started (the extra students of a class of {2 * args.students}) "
          f"| {per_started * 1000:.1f} ms | {1 / per_started:.1f} | {cpu_started * 1000:.1f} ms |")
    print(f"| `grader batch --variants` (references prepared per student) | {per_variant * 1000:.1f} ms "
          f"| {1 / per_variant:.1f} | {cpu_variant * 1000:.1f} ms |")
    print(f"| `python -m pytest` per student (2 numpy checks; {len(sample)} timed) | {per_pytest * 1000:.0f} ms "
          f"| {1 / per_pytest:.2f} | {cpu_pytest * 1000:.0f} ms |")
    print(f"\n`grader batch` is {per_pytest / per_grader:.0f}x faster per student in wall time "
          f"({1 / per_grader:.1f} students/s) and uses {cpu_pytest / cpu_grader:.0f}x less CPU per student.")

if __name__ == "__main__":
    main()
