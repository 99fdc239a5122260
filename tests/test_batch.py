"""`grader batch`: discovery, the exact gradebook, resume after an interrupt, variants, outputs."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import EXAMPLE, run_cli
from grader.batch import BatchOptions, discover_students, run_batch
from grader.gradebook import format_points
from grader.journal import Journal
from grader.executor import ThreadExecutor

BANK_IDS = ["chain-deriv-2", "chain-deriv-3", "chain-rule-expansion", "matmul-backward",
            "matrix-sigmoid-backward", "matrix-sum-backward", "numeric-derivative", "partial-add",
            "sigmoid-derivative"]
SOLUTION = EXAMPLE.read_text()
WRONG_SIGMOID = SOLUTION.replace("return s * (1 - s)", "return s * (1 + s)")
WRONG_MATMUL = SOLUTION.replace("def matmul_backward_first(X, W):\n    return np.transpose(W, (1, 0))",
                                "def matmul_backward_first(X, W):\n    return W")
HANGS_IN_SIGMOID = SOLUTION.replace("def sigmoid_derivative(x):\n",
                                    "def sigmoid_derivative(x):\n    while True:\n        pass\n")
EXERCISES = ["sigmoid-derivative", "matmul-backward"]


def make_class(directory: Path) -> None:
    """12 students covering every way a submission can come in."""
    files = {
        "ada.py": SOLUTION, "ben.py": SOLUTION, "cy.py": WRONG_SIGMOID, "dee.py": WRONG_MATMUL,
        "eli.py": "def sigmoid_derivative(x)\n    return x\n",            # syntax error
        "fay.py": HANGS_IN_SIGMOID,
        "gus.py": "import os\nos._exit(3)\n",                             # kills its own process
        "hal.py": "",                                                     # empty file
        "ivy/solution.py": WRONG_SIGMOID,                                 # a folder student
        "jo/a.py": SOLUTION, "jo/b.py": SOLUTION,                         # ambiguous folder
        "kit/README.txt": "no code here",                                 # folder without .py
        "lu.py": b"\xff\xfe not utf-8",                                   # unreadable bytes
    }
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    (directory / "notes.txt").write_text("not a student")
    (directory / "__pycache__").mkdir()


EXPECTED = {   # student -> (sigmoid-derivative, matmul-backward) points
    "ada": (1, 1), "ben": (1, 1), "cy": (0, 1), "dee": (1, 0), "eli": (0, 0), "fay": (0, 1),
    "gus": (0, 0), "hal": (0, 0), "ivy": (0, 1), "jo": (0, 0), "kit": (0, 0), "lu": (0, 0),
}


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as stream:
        return list(csv.reader(stream))


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The 12-student class graded once through the CLI, with --json."""
    root = tmp_path_factory.mktemp("class")
    make_class(root / "class")
    out, report = root / "gradebook.csv", root / "all.json"
    done = run_cli("batch", str(root / "class"), "--out", str(out), "--json", str(report), "--jobs", "2",
                   "--timeout", "1", *[a for i in EXERCISES for a in ("--exercise", i)])
    return root, out, report, done


@pytest.mark.slow
def test_gradebook_is_exact(graded_class):
    root, out, _, done = graded_class
    assert done.returncode == 0, done.stderr
    rows = read_csv(out)
    assert rows[0] == ["student", "score", "max_score", *EXERCISES]
    expected = [[name, format_points(sum(points)), "2", *map(str, points)]
                for name, points in sorted(EXPECTED.items())]
    assert rows[1:] == expected
    # the journal and temporary files never leak into the class directory or next to the gradebook
    assert sorted(p.name for p in root.iterdir()) == ["all.json", "class", "gradebook.csv",
                                                       "gradebook.csv.journal"]


@pytest.mark.slow
def test_json_has_every_report_and_reasons(graded_class):
    _, _, report, _ = graded_class
    data = json.loads(report.read_text())
    students = data["students"]
    assert sorted(students) == sorted(EXPECTED)
    assert students["ivy"]["submission"] == "ivy/solution.py"
    jo = {e["id"]: e for e in students["jo"]["exercises"]}
    assert jo["sigmoid-derivative"]["status"] == "error"
    assert "several .py files (a.py, b.py)" in jo["sigmoid-derivative"]["feedback"]
    assert "no .py file" in students["kit"]["exercises"][0]["feedback"]
    fay = {e["id"]: e["status"] for e in students["fay"]["exercises"]}
    assert fay == {"sigmoid-derivative": "timeout", "matmul-backward": "passed"}
    summary = data["summary"]
    assert summary["students"] == 12
    assert summary["pass_rate"] == {"sigmoid-derivative": round(3 / 12, 6), "matmul-backward": round(5 / 12, 6)}
    trouble = {item["student"] for item in summary["errors_or_timeouts"]}
    assert {"eli", "fay", "gus", "jo", "kit", "lu"} <= trouble
    assert "ada" not in trouble and "cy" not in trouble


@pytest.mark.slow
def test_summary_on_stdout(graded_class):
    _, _, _, done = graded_class
    assert "graded 12 students" in done.stdout
    assert "mean 0.666667 / 2, median 0.5 / 2" in done.stdout
    assert "fay: sigmoid-derivative timeout" in done.stdout
    assert "slowest:" in done.stdout


@pytest.mark.slow
def test_rerun_skips_unchanged_and_regrades_changed(graded_class, tmp_path):
    root, out, _, _ = graded_class
    before = out.read_bytes()
    journal = Journal(out.with_name(out.name + ".journal")).load()
    assert set(journal) == set(EXPECTED) - {"jo", "kit"}   # no file could be chosen for these two
    done = run_cli("batch", str(root / "class"), "--out", str(out), "--timeout", "1",
                   *[a for i in EXERCISES for a in ("--exercise", i)])
    assert "(0 now, 10 from the journal, 2 without" in done.stdout
    assert out.read_bytes() == before
    # cy fixes the sigmoid: only cy is graded again, and now has full marks
    (root / "class" / "cy.py").write_text(SOLUTION)
    done = run_cli("batch", str(root / "class"), "--out", str(out), "--timeout", "1",
                   *[a for i in EXERCISES for a in ("--exercise", i)])
    assert "(1 now, 9 from the journal, 2 without" in done.stdout
    assert ["cy", "2", "2", "1", "1"] in read_csv(out)
    (root / "class" / "cy.py").write_text(WRONG_SIGMOID)


@pytest.mark.slow
def test_json_after_a_run_without_it_regrades(tmp_path):
    """Without --json the journal keeps only the grades; asking for the reports later regrades."""
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "ana.py").write_text(SOLUTION)
    args = ["batch", str(tmp_path / "class"), "--out", str(tmp_path / "g.csv"), "--exercise", "matmul-backward"]
    assert "(1 now, 0 from the journal)" in run_cli(*args).stdout
    assert "(0 now, 1 from the journal)" in run_cli(*args).stdout
    done = run_cli(*args, "--json", str(tmp_path / "all.json"))
    assert "(1 now, 0 from the journal)" in done.stdout
    assert json.loads((tmp_path / "all.json").read_text())["students"]["ana"]["exercises"][0]["checks"]
    assert "(0 now, 1 from the journal)" in run_cli(*args, "--json", str(tmp_path / "all.json")).stdout


def test_discovery_rules(tmp_path):
    make_class(tmp_path)
    (tmp_path / "ada").mkdir()
    (tmp_path / "ada" / "x.py").write_text(SOLUTION)
    students = {s.name: s for s in discover_students(tmp_path)}
    assert "both ada.py and ada/ exist" in students["ada"].problem
    assert students["ivy"].path == tmp_path / "ivy" / "solution.py"
    assert students["jo"].path is None
    with_filename = {s.name: s for s in discover_students(tmp_path, "b.py")}
    assert with_filename["jo"].path == tmp_path / "jo" / "b.py"
    assert "no b.py in ivy/ (found: solution.py)" in with_filename["ivy"].problem


def test_journal_ignores_a_torn_line(tmp_path):
    path = tmp_path / "journal"
    journal = Journal(path)
    journal.append({"journal": 1, "student": "a", "key": "k1", "grades": {}})
    journal.close()
    with open(path, "a") as stream:
        stream.write('{"journal": 1, "student": "b", "ke')       # killed mid-write
    journal = Journal(path)
    journal.append({"journal": 1, "student": "c", "key": "k3", "grades": {}})
    journal.close()
    assert sorted(Journal(path).load()) == ["a", "c"]


def test_bad_arguments_are_usage_errors(tmp_path):
    done = run_cli("batch", str(tmp_path / "missing"))
    assert done.returncode == 2 and "no such directory" in done.stderr
    done = run_cli("batch", str(tmp_path), "--jobs", "0")
    assert done.returncode == 2 and "--jobs" in done.stderr
    done = run_cli("batch", str(tmp_path), "--filename", "../x.py")
    assert done.returncode == 2 and "--filename" in done.stderr


def test_executor_stop_drops_unfinished_work():
    executor = ThreadExecutor(2)
    seen = []
    for value in executor.map_unordered(lambda n: (time.sleep(0.01), n)[1], range(50)):
        seen.append(value)
        if len(seen) == 5:
            executor.stop()
    assert len(seen) == 5


def test_executor_yields_every_result():
    assert sorted(ThreadExecutor(3).map_unordered(lambda n: n * n, range(20))) == [n * n for n in range(20)]


# ---- variants -------------------------------------------------------------------------------------

def _variant_inputs(report: dict) -> list[str]:
    return [check["inputs"] for exercise in report["exercises"] for check in exercise["checks"]
            if check["case"].startswith("random")]


@pytest.mark.slow
def test_variants_differ_between_students_and_match_check_student(tmp_path):
    (tmp_path / "class").mkdir()
    for name in ("ana", "bo"):
        (tmp_path / "class" / f"{name}.py").write_text(SOLUTION)
    common = ["--exercise", "sigmoid-derivative", "--exercise", "matrix-sum-backward"]
    done = run_cli("batch", str(tmp_path / "class"), "--variants", "--out", str(tmp_path / "g.csv"),
                   "--json", str(tmp_path / "all.json"), *common)
    assert done.returncode == 0, done.stderr
    students = json.loads((tmp_path / "all.json").read_text())["students"]
    ana, bo = _variant_inputs(students["ana"]), _variant_inputs(students["bo"])
    assert ana and len(ana) == len(bo) and all(a != b for a, b in zip(ana, bo))
    assert students["ana"]["score"] == students["bo"]["score"] == 2
    # check --student reproduces a student's variant; without it, the shared inputs are used
    local = run_cli("check", str(tmp_path / "class" / "ana.py"), "--format", "json", "--student", "ana",
                    "--variants", *common)
    assert _variant_inputs(json.loads(local.stdout)) == ana
    plain = run_cli("check", str(tmp_path / "class" / "ana.py"), "--format", "json", *common)
    assert _variant_inputs(json.loads(plain.stdout)) not in (ana, bo)
    # regrading gives the same numbers
    again = run_cli("batch", str(tmp_path / "class"), "--variants", "--out", str(tmp_path / "g2.csv"),
                    "--json", str(tmp_path / "again.json"), *common)
    assert again.returncode == 0
    assert _variant_inputs(json.loads((tmp_path / "again.json").read_text())["students"]["bo"]) == bo


def test_variants_key_in_yaml_only_varies_that_exercise(plugins, tmp_path):
    from grader.engine import prepare
    from grader.loader import load_exercises
    bank = {e.id: e for e in load_exercises(None, plugins)}
    source = Path(bank["sigmoid-derivative"].path).read_text().replace("id: sigmoid-derivative",
                                                                        "id: sigmoid-variant")
    (tmp_path / "v.yaml").write_text(source + "\nvariants: true\n")
    (tmp_path / "s.yaml").write_text(Path(bank["sigmoid-derivative"].path).read_text())
    exercises = load_exercises([tmp_path], plugins)
    by_id = {e.id: e for e in exercises}
    assert by_id["sigmoid-variant"].variants and not by_id["sigmoid-derivative"].variants

    def random_args(student):
        return {item.exercise.id: [repr(case.args) for case in item.cases if case.label.startswith("random")]
                for item in prepare(exercises, plugins, student=student)}
    ana, bo, ana_again = random_args("ana"), random_args("bo"), random_args("ana")
    assert ana["sigmoid-variant"] != bo["sigmoid-variant"]
    assert ana["sigmoid-variant"] == ana_again["sigmoid-variant"]
    assert ana["sigmoid-derivative"] == bo["sigmoid-derivative"]


def test_variants_key_must_be_boolean(plugins, tmp_path):
    from grader.errors import DefinitionError
    from grader.loader import load_exercises
    bank = {e.id: e for e in load_exercises(None, plugins)}
    (tmp_path / "v.yaml").write_text(Path(bank["sigmoid-derivative"].path).read_text() + "\nvariants: yes please\n")
    with pytest.raises(DefinitionError, match="variants"):
        load_exercises([tmp_path], plugins)


# ---- html ----------------------------------------------------------------------------------------

def test_html_class_report(plugins, tmp_path):
    pytest.importorskip("grader.class_report", reason="grader.class_report is another engineer's work")
    from grader.loader import load_exercises
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "ana.py").write_text(SOLUTION)
    (tmp_path / "class" / "bo.py").write_text(WRONG_SIGMOID)
    exercises = [e for e in load_exercises(None, plugins) if e.id in EXERCISES]
    options = BatchOptions(directory=tmp_path / "class", exercises=exercises, out=tmp_path / "g.csv", jobs=1,
                           html_path=tmp_path / "class.html", title="Class of 2026")
    result = run_batch(options, plugins, progress_stream=open(os.devnull, "w"))
    html = (tmp_path / "class.html").read_text()
    assert not result.interrupted
    assert "Class of 2026" in html and "ana" in html and "bo" in html


# ---- interrupt and resume ------------------------------------------------------------------------

def _many_students(directory: Path, count: int) -> None:
    directory.mkdir()
    for index in range(count):
        text = (SOLUTION, WRONG_SIGMOID, WRONG_MATMUL)[index % 3]
        (directory / f"s{index:03d}.py").write_text(f"# student {index}\n{text}")


@pytest.mark.slow
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path):
    _many_students(tmp_path / "class", 60)
    args = ["--jobs", "2", "--exercise", "sigmoid-derivative", "--exercise", "matmul-backward",
            "--exercise", "chain-deriv-2"]
    full = run_cli("batch", str(tmp_path / "class"), "--out", str(tmp_path / "full.csv"), *args)
    assert full.returncode == 0, full.stderr

    out = tmp_path / "resumed.csv"
    journal = tmp_path / "resumed.csv.journal"
    process = subprocess.Popen([sys.executable, "-m", "grader", "batch", str(tmp_path / "class"),
                                "--out", str(out), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:          # wait until a few students are journaled
        if journal.exists() and journal.read_text().count("\n") >= 5:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - stopped < 10
    if process.returncode == 0:
        pytest.skip("the batch finished before the interrupt arrived (machine too fast for this test)")
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists()                     # no half-written gradebook
    assert not list(tmp_path.glob(".resumed.csv.*"))
    interrupted_count = len(Journal(journal).load())
    assert 5 <= interrupted_count < 60

    resumed = run_cli("batch", str(tmp_path / "class"), "--out", str(out), *args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({60 - interrupted_count} now, {interrupted_count} from the journal)" in resumed.stdout
    assert out.read_bytes() == (tmp_path / "full.csv").read_bytes()


# ---- grader-side failures ------------------------------------------------------------------------

class _BrokenSandbox:
    """A fork server that fails on every run, as when the grader's own sandbox breaks."""

    class process:
        @staticmethod
        def poll():
            return None

    def wait_ready(self) -> None:
        pass

    def run(self, *args, **kwargs):
        from grader.sandbox.client import SandboxError
        raise SandboxError("the fork server is gone")

    def close(self) -> None:
        pass


def test_a_sandbox_failure_is_reported_and_never_journaled(plugins, tmp_path):
    from grader.batch import SandboxPool
    from grader.gradebook import summarize
    from grader.loader import load_exercises
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "ana.py").write_text(SOLUTION)
    exercises = [e for e in load_exercises(None, plugins) if e.id in EXERCISES]
    options = BatchOptions(directory=tmp_path / "class", exercises=exercises, out=tmp_path / "g.csv", jobs=1)
    pool = SandboxPool(1, factory=_BrokenSandbox)
    result = run_batch(options, plugins, pool=pool, progress_stream=open(os.devnull, "w"))
    assert read_csv(tmp_path / "g.csv")[1] == ["ana", "0", "2", "0", "0"]
    assert "could not run this submission" in summarize(result)["errors_or_timeouts"][0]["reason"]
    assert Journal(tmp_path / "g.csv.journal").load() == {}     # the next run grades ana again


def test_pool_replaces_a_dead_fork_server():
    from grader.batch import SandboxPool
    pool = SandboxPool(1)
    try:
        first = pool.get()
        first.wait_ready()
        first.process.kill()
        first.process.wait()
        second = pool.get()
        assert second is not first and second.process.poll() is None
    finally:
        pool.close()



def test_fork_servers_boot_before_numpy_and_the_exercises_load(tmp_path):
    """The servers' start-up (an interpreter importing numpy each) overlaps this process's own."""
    (tmp_path / "ada.py").write_text(SOLUTION)
    script = (
        "import sys\n"
        "import grader.sandbox.pool as pool\n"
        "boot = pool.SandboxPool.__init__\n"
        "def spy(self, *a, **k):\n"
        "    boot(self, *a, **k)\n"
        "    print('heavy modules at boot:', sorted(m for m in ('numpy', 'yaml', 'pluggy', 'grader.engine') if m in sys.modules))\n"
        "pool.SandboxPool.__init__ = spy\n"
        "from grader.cli import main\n"
        f"sys.exit(main(['batch', {str(tmp_path)!r}, '--exercise', 'sigmoid-derivative', '--jobs', '1',\n"
        f"               '--out', {str(tmp_path / 'book.csv')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "heavy modules at boot: []" in done.stdout
    assert "ada,1,1,1" in (tmp_path / "book.csv").read_text()


@pytest.mark.slow
def test_when_the_command_has_exited_its_fork_servers_and_students_are_gone(tmp_path):
    from hostile_helpers import DAEMON, correct_with
    marker = tmp_path / "marker"        # on sys.path: in the argv of the servers and their forks
    marker.mkdir()
    (tmp_path / "class").mkdir()
    for index in range(4):
        (tmp_path / "class" / f"s{index}.py").write_text(correct_with(inside=DAEMON) if index % 2 else SOLUTION)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(marker), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-m", "grader", "batch", str(tmp_path / "class"), "--jobs", "2",
                           "--exercise", EXERCISES[0], "--out", str(tmp_path / "book.csv")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr

    def ours() -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline, open(f"/proc/{pid}/stat") as stat:
                    if str(marker).encode() in cmdline.read() and stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                        found.append(int(pid))
            except OSError:
                pass
        return found
    deadline = time.monotonic() + 10
    while ours() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ours() == []

# ---- progress ------------------------------------------------------------------------------------

class _Stream(list):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.append(text)

    def flush(self) -> None:
        pass


def test_progress_plain_lines_when_not_a_terminal():
    from grader.batch import Progress
    stream = _Stream(tty=False)
    progress = Progress(100, stream)
    for index in range(100):
        progress.advance(f"s{index}")
    assert all(line.endswith("\n") and "\r" not in line for line in stream)
    assert len(stream) == 10                      # every 10%, not every student
    assert stream[-1].startswith("grader: graded 100/100 students")


def test_progress_redraws_one_line_on_a_terminal():
    from grader.batch import Progress
    stream = _Stream(tty=True)
    progress = Progress(3, stream)
    for name in ("ana", "bo", "cy"):
        progress.advance(name)
    text = "".join(stream)
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1   # one line, redrawn
    assert "3/3" in text and "cy" in text and "student/s" in text
    assert "grader: graded" not in text


def test_progress_on_a_terminal_ends_its_line_when_interrupted():
    from grader.batch import Progress
    stream = _Stream(tty=True)
    progress = Progress(5, stream)
    progress.advance("ana")
    progress.advance("bo")
    progress.close()
    text = "".join(stream)
    assert "2/5" in text.rsplit("\r", 1)[-1] and text.endswith("\n")


@pytest.mark.slow
def test_the_progress_bar_fits_a_real_terminal(tmp_path):
    import pty
    import struct
    import termios
    import fcntl
    for name in ("ada", "ben", "cy"):
        (tmp_path / f"{name}.py").write_text(SOLUTION)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))     # 60 columns
    try:
        done = subprocess.run([sys.executable, "-m", "grader", "batch", str(tmp_path), "--exercise", EXERCISES[0],
                               "--out", str(tmp_path / "book.csv")], stdout=subprocess.PIPE, stderr=slave,
                              text=True, timeout=120)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert done.returncode == 0
    screen = b"".join(chunks).decode()
    drawn = [part.split("\n")[0] for part in screen.replace("\r\n", "\n").split("\r")]
    assert any("3/3" in line for line in drawn) and all(len(line) <= 60 for line in drawn), screen
    assert "graded 3 students" in done.stdout


class _BrokenComparison:
    """A third-party comparison plugin with a bug: it raises on every case."""

    @staticmethod
    @__import__("grader").hookimpl
    def grader_compare(expected, got, tolerance):
        raise RuntimeError("plugin bug")


def test_a_plugin_failing_to_decide_is_reported_and_never_journaled(tmp_path):
    from grader.gradebook import summarize
    from grader.loader import load_exercises
    from grader.plugin_manager import Plugins, build_plugin_manager
    plugins = Plugins(*build_plugin_manager(entry_points=False, extra=(_BrokenComparison(),)))
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "ana.py").write_text(SOLUTION)
    exercises = [e for e in load_exercises(None, plugins) if e.id in EXERCISES]
    options = BatchOptions(directory=tmp_path / "class", exercises=exercises, out=tmp_path / "g.csv", jobs=1)
    result = run_batch(options, plugins, progress_stream=open(os.devnull, "w"))
    assert read_csv(tmp_path / "g.csv")[1] == ["ana", "0", "2", "0", "0"]
    reason = summarize(result)["errors_or_timeouts"][0]["reason"]
    assert "could not decide this submission: RuntimeError: plugin bug" in reason
    assert Journal(tmp_path / "g.csv.journal").load() == {}     # the next run grades ana again


class _GcRecordingExecutor(ThreadExecutor):
    """Notes the garbage collector's settings while students are graded; can fail halfway."""

    def __init__(self, jobs: int, fail: bool = False) -> None:
        super().__init__(jobs)
        self.fail, self.during = fail, None

    def map_unordered(self, fn, items):
        import gc
        self.during = (gc.get_threshold(), gc.get_freeze_count())
        for result in super().map_unordered(fn, items):
            if self.fail:
                raise RuntimeError("the engine broke halfway")
            yield result


def _collector_state() -> tuple:
    import gc
    return gc.get_threshold(), gc.get_freeze_count()


@pytest.fixture
def collector_restored():
    """Whatever a test does to the garbage collector is undone after it."""
    import gc
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    yield
    gc.set_threshold(*thresholds)
    if not frozen:
        gc.unfreeze()


def _grade_two(plugins, tmp_path, executor) -> None:
    from grader.batch import SandboxPool
    from grader.loader import load_exercises
    (tmp_path / "class").mkdir()
    for name in ("ana", "bo"):
        (tmp_path / "class" / f"{name}.py").write_text(SOLUTION)
    exercises = [e for e in load_exercises(None, plugins) if e.id in EXERCISES]
    options = BatchOptions(directory=tmp_path / "class", exercises=exercises, out=tmp_path / "g.csv", jobs=1)
    run_batch(options, plugins, pool=SandboxPool(1, factory=_BrokenSandbox), executor=executor,
              progress_stream=open(os.devnull, "w"))


@pytest.mark.parametrize("fail", [False, True])
def test_the_collector_is_tuned_only_while_the_class_is_graded(plugins, tmp_path, fail, collector_restored):
    import gc
    gc.unfreeze()
    before = _collector_state()
    executor = _GcRecordingExecutor(1, fail)
    if fail:
        with pytest.raises(RuntimeError, match="halfway"):
            _grade_two(plugins, tmp_path, executor)
    else:
        _grade_two(plugins, tmp_path, executor)
    threshold, frozen = executor.during
    assert frozen > 0 and threshold[0] > before[0][0]      # the long-lived objects left alone
    assert _collector_state() == before


def test_a_callers_own_freeze_and_switched_off_collection_are_kept(plugins, tmp_path, collector_restored):
    import gc
    gc.freeze()                     # the caller's: unfreezing ours would undo theirs too
    gc.set_threshold(0)             # automatic collection off
    before = _collector_state()
    executor = _GcRecordingExecutor(1)
    _grade_two(plugins, tmp_path, executor)
    # collection still off, and nothing more frozen (frozen objects that die leave the count)
    assert executor.during[0] == before[0] and executor.during[1] <= before[1]
    assert gc.get_threshold() == before[0] and 0 < gc.get_freeze_count() <= before[1]


def test_overlapping_batches_restore_the_collector_when_the_last_ends(collector_restored):
    import gc
    from grader.batch import _fewer_collections
    gc.unfreeze()
    before = _collector_state()
    first, second = _fewer_collections(), _fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)        # the other batch still grades: still tuned
    assert gc.get_threshold()[0] > before[0][0] and gc.get_freeze_count() > 0
    second.__exit__(None, None, None)
    assert _collector_state() == before
