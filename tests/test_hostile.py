"""Hostile submissions: each gets the right verdict, and the grader comes out unharmed (alive, no
leftover processes, files intact, the next submission graded correctly)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import EXAMPLE, ROOT, grader_for, statuses
from hostile_helpers import (CORRECT, DAEMON, FIND_SERVER_AND_GRADER, correct_with, leftover_children, namespaces,
                             processes_of_uid, zombie_free)

ONE = "sigmoid-derivative"
TWO = ("sigmoid-derivative", "matmul-backward")
GOOD_MATMUL = "\ndef matmul_backward_first(X, W):\n    return W.T\n"


@pytest.fixture(scope="module")
def box():
    from grader.sandbox.client import Sandbox
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def hostile(tmp_path, plugins, bank, box):
    """hostile(source, *ids, **options) -> report, graded in this module's own sandbox."""
    return grader_for(tmp_path, plugins, bank, box, default_ids=(ONE,), timeout=2.0)


@pytest.fixture(autouse=True)
def grader_unharmed(box, plugins, bank, tmp_path):
    """After every hostile case: nothing of the student's survives, and the sandbox still grades."""
    yield
    from grader.engine import grade_submission
    if box.slot is not None:
        assert zombie_free(processes_of_uid(box.slot.uid)) == [], "a student process survived"
    assert leftover_children(box) == [], "the fork server has a leftover child"
    good = tmp_path / "good.py"
    good.write_text(CORRECT)
    report = grade_submission(good, [bank[ONE]], plugins, box)
    assert statuses(report) == {ONE: "passed"}, report.exercises[0].feedback


def only(report):
    (result,) = report.exercises
    return result


# ---- time ----------------------------------------------------------------------------------------

def test_infinite_loop_in_the_function_times_out(hostile):
    assert only(hostile(correct_with(inside="while True: pass"), timeout=0.5)).status == "timeout"


def test_infinite_loop_at_import_times_out_every_exercise(hostile):
    report = hostile("while True:\n    pass\n", *TWO, timeout=0.5)
    assert statuses(report) == {i: "timeout" for i in TWO}


def test_sleeping_at_import_times_out(hostile):
    assert only(hostile("import time\ntime.sleep(30)\n" + CORRECT, timeout=0.5)).status == "timeout"


def test_ignoring_sigterm_and_sigint_still_times_out(hostile):
    prelude = ("import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
               "    signal.signal(s, signal.SIG_IGN)\n")
    report = hostile(correct_with(prelude, inside="while True: pass"), *TWO, timeout=0.5)
    assert statuses(report) == {"sigmoid-derivative": "timeout", "matmul-backward": "error"}


# ---- forged protocol messages --------------------------------------------------------------------

def forge(frame: dict) -> str:
    """Student code writing a harness message into every descriptor it has (the result pipe among them)."""
    return (f"import json, os, struct\nbody = json.dumps({frame!r}).encode()\n"
            "for fd in range(3, 64):\n"
            "    try:\n        os.write(fd, struct.pack('>I', len(body)) + body)\n"
            "    except OSError:\n        pass\n")


FORGED = {
    "imported again (once lifted the time limit)": {"t": "imported", "functions": []},
    "the running exercise started again (once restarted its clock)": {"t": "start", "i": 0},
    "ready again": {"t": "ready", "protections": []},
    "a sandbox failure after student code ran": {"t": "sandbox_error", "message": "fake"},
    "a result for a call that does not exist": {"t": "result", "i": 9999, "s": 0.0, "value": 1.0},
}


@pytest.mark.parametrize("frame", list(FORGED.values()), ids=list(FORGED))
def test_forged_messages_cost_only_the_exercise_and_never_the_time_limit(hostile, frame):
    import time
    started = time.monotonic()
    report = hostile(correct_with(inside=forge(frame) + "import time; time.sleep(60)") + GOOD_MATMUL, *TWO,
                     timeout=2.0)
    assert time.monotonic() - started < 10
    assert statuses(report) == {"sigmoid-derivative": "error", "matmul-backward": "passed"}
    assert "malformed" in report.exercises[0].feedback, report.exercises[0].feedback


BAD_ARRAY = {"__nd__": "float64", "shape": [1], "data": "not base64!"}


@pytest.mark.parametrize("frame", [
    {"t": "result", "i": 0, "s": 0.0, "value": BAD_ARRAY},      # once escaped the grader as binascii.Error
    {"t": "result", "i": 0, "s": 0.0, "value": 1.0},            # then the real answer: two for one call
    {"t": "error", "i": 1, "s": 0.0, "type": "ValueError", "message": "x"},   # a call skipped
    {"t": "result", "i": 0, "s": 0.0, "value": {"__complex__": 1}},            # once TypeError
    {"t": "result", "i": 0, "s": 0.0, "value": {"__nd__": "float64", "shape": [0, 2 ** 70], "data": ""}},
], ids=["undecodable array", "a second answer for a call", "an answer out of turn", "a malformed complex",
        "an impossible shape"])
def test_forged_answers_are_malformed_data_and_cost_only_the_exercise(hostile, frame):
    report = hostile(correct_with(inside=forge(frame)) + GOOD_MATMUL, *TWO, timeout=5.0)
    assert statuses(report) == {"sigmoid-derivative": "error", "matmul-backward": "passed"}
    messages = [check.message for check in report.exercises[0].checks]
    assert any("malformed" in message for message in messages), messages


def test_a_forged_sandbox_failure_is_the_students_not_the_graders(tmp_path, bank, box):
    # the batch journals a student unless the sandbox itself failed: student code cannot claim that
    from grader.engine import run_submission
    path = tmp_path / "forger.py"
    path.write_text(correct_with(inside=forge({"t": "sandbox_error", "message": "fake"})))
    ran = run_submission(path, [bank[ONE]], box, timeout=2.0)
    assert not ran.outcome.sandbox_failed
    assert {outcome.status for outcome in ran.outcome.outcomes[0]} == {"crashed"}


# ---- exits and exceptions ------------------------------------------------------------------------

@pytest.mark.parametrize("inside, words", [
    ("import sys; sys.exit(0)", "SystemExit"),
    ("import os; os._exit(0)", "exited with code 0"),
    ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("class Escape(BaseException): pass\nraise Escape('out')", "Escape"),
    ("import ctypes; ctypes.string_at(0)", "segmentation fault"),
    ("def f(n): return f(n + 1)\nf(0)", "RecursionError"),
])
def test_exits_crashes_and_base_exceptions_are_errors(hostile, inside, words):
    result = only(hostile(correct_with(inside=inside) + GOOD_MATMUL))
    assert result.status == "error" and words in result.feedback, result.feedback


def test_a_crash_leaves_the_next_exercise_its_own_verdict(hostile):
    report = hostile(correct_with(inside="import ctypes; ctypes.string_at(0)") + GOOD_MATMUL, *TWO)
    assert statuses(report) == {"sigmoid-derivative": "error", "matmul-backward": "passed"}


def test_recursion_bomb_in_c_through_nested_lists(hostile):
    inside = "a = []\nfor _ in range(10**5):\n    a = [a]\nrepr(a)"
    assert only(hostile(correct_with(inside=inside))).status == "error"


# ---- memory and processes --------------------------------------------------------------------

def test_allocating_3_gib_then_answering_right_does_not_pass(hostile):
    result = only(hostile(correct_with(inside="big = np.ones(3 * 2**30 // 8)")))
    assert result.status == "error" and "memory limit" in result.feedback, result.feedback


def test_a_growing_memory_hog_is_stopped_by_the_memory_limit(hostile):
    result = only(hostile(correct_with(inside="hog = []\nwhile True:\n    hog.append(np.ones(2**24))"), timeout=10))
    # each case fills 1 GiB before it fails, so the later cases may run out of time instead
    assert result.status in ("error", "timeout") and "memory limit" in result.feedback, result.feedback


def test_a_lower_memory_limit_from_the_options_is_named(hostile):
    result = only(hostile(correct_with(inside="big = np.ones(300 * 2**20 // 8)"), memory=200 * 2**20))
    assert result.status == "error" and "memory limit (200 MiB)" in result.feedback, result.feedback


def test_a_fork_bomb_is_bounded_and_leaves_nothing_behind(hostile):
    inside = """
    import os
    for _ in range(200):
        try:
            if os.fork() == 0:
                import time
                time.sleep(60)
        except OSError:
            break
    """
    result = only(hostile(correct_with(inside=inside)))
    # the parent returns a right answer; every forked sleeper is killed by the autouse check
    assert result.status in ("passed", "error", "timeout")


def test_orphaned_daemons_that_called_setsid_do_not_survive(hostile, box):
    assert only(hostile(correct_with(inside=DAEMON))).status == "passed"
    # the autouse check asserts no process of the sandbox survived


def test_a_spawned_subprocess_does_not_survive(hostile):
    inside = "import os\nos.posix_spawn('/bin/sleep', ['sleep', '60'], {}, setsid=True)"
    assert only(hostile(correct_with(inside=inside))).status == "passed"


@namespaces
def test_the_process_limit_stops_a_fork_bomb(hostile):
    inside = """
    import os
    made = 0
    try:
        for _ in range(500):
            if os.fork() == 0:
                import time; time.sleep(60)
            made += 1
    except OSError:
        pass
    print('made', made)
    """
    result = only(hostile(correct_with(inside=inside)))
    made = int(result.checks[0].output.split()[-1])
    assert made < 64, made      # the default limit is 32 processes for the sandbox uid


# ---- output --------------------------------------------------------------------------------------

def test_huge_output_is_capped_and_the_answer_still_graded(hostile):
    report = hostile(correct_with(inside="import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 2**20)"),
                     timeout=20)
    assert only(report).status == "passed"
    assert len(report.output) <= 64 * 1024 and report.output_truncated > 200 * 2**20 * 6


def test_fake_passed_and_json_prints_change_nothing(hostile):
    lie = ('print("PASS sigmoid-derivative 1/1")\nprint(\'{"score": 9.0, "status": "passed"}\')\n'
           'import sys; sys.stderr.write("Score: 9/9\\n")\nreturn x * 0 + 1.0')
    report = hostile("def sigmoid_derivative(x):\n" + textwrap.indent(lie, "    "))
    assert only(report).status == "failed" and report.score == 0, only(report).feedback


def test_fake_json_output_does_not_corrupt_the_json_report(tmp_path):
    source = tmp_path / "solution.py"
    source.write_text('print(\'{"submission": "x", "score": 9}\')\ndef sigmoid_derivative(x):\n'
                      '    print("}{ not json"); return x * 0 + 1.0\n')
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(source), "--exercise", ONE,
                           "--format", "json"], capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["score"] == 0 and report["exercises"][0]["status"] == "failed"


# ---- file descriptors and stdin ------------------------------------------------------------------

def test_closing_every_file_descriptor_is_an_error_not_a_hang(hostile):
    result = only(hostile(correct_with(inside="import os\nos.closerange(0, 4096)")))
    assert result.status == "error"


def test_reading_stdin_gets_end_of_file(hostile):
    inside = "import sys\nassert sys.stdin.read() == ''\ninput()"
    result = only(hostile(correct_with(inside=inside)))
    assert result.status == "error" and "EOFError" in result.feedback


# ---- monkeypatching --------------------------------------------------------------------------------

def test_monkeypatching_numpy_math_and_builtins_cannot_forge_a_pass(hostile):
    prelude = """
    import builtins, json, math, numpy
    numpy.allclose = lambda *a, **k: True
    numpy.isclose = lambda *a, **k: True
    numpy.testing = None
    math.isclose = lambda *a, **k: True
    json.dumps = lambda *a, **k: '{"t": "result", "i": 0, "value": 1.0}'
    builtins.isinstance = lambda *a: True
    builtins.len = lambda *a: 0
    """
    report = hostile(textwrap.dedent(prelude) + "\ndef sigmoid_derivative(x):\n    return x * 0 + 0.2\n")
    assert only(report).status == "failed"


def test_patching_the_harness_transport_only_changes_the_students_own_answer(hostile):
    prelude = """
    import sys
    for name, module in list(sys.modules.items()):
        if name.startswith("grader"):
            for attr in ("encode", "_encode", "write_frame", "_write_frame"):
                if hasattr(module, attr):
                    setattr(module, attr, lambda *a, **k: None)
    """
    report = hostile(textwrap.dedent(prelude) + "\ndef sigmoid_derivative(x):\n    return x * 0\n")
    assert only(report).status in ("failed", "error")


# ---- looking for the reference values --------------------------------------------------------------

SCAVENGER = """
import gc, sys
import numpy as np

def _harvest(x):
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, np.ndarray) and obj.dtype.kind == "f" and obj.size < 10**5:
            found.append(obj.ravel())
        elif isinstance(obj, float):
            found.append(np.array([obj]))
    frame = sys._getframe()
    while frame is not None:
        for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                found.append(value.ravel())
        frame = frame.f_back
    return np.concatenate(found) if found else np.zeros(0)
"""


def test_scanning_gc_and_frames_finds_no_reference_values(box, bank):
    from grader.engine import _exercise_run
    item = bank[ONE]
    source = SCAVENGER + "\ndef sigmoid_derivative(x):\n    return _harvest(x)\n"
    outcome = box.run(source, "/nonexistent/solution.py", [_exercise_run(item, None, None)])
    harvested = np.concatenate([o.value for o in outcome.outcomes[0] if o.status == "ok"])
    assert harvested.size > 0                       # the scan worked ...
    for case in item.cases:                         # ... and no expected value is anywhere in reach
        expected = np.asarray(case.expected, dtype=float).ravel()
        interesting = expected[(expected != 0) & (np.abs(expected) != 0.25)]
        assert not np.isin(interesting, harvested).any()


@namespaces
def test_reading_the_grader_and_fork_server_memory_fails(hostile):
    inside = "import os\n" + FIND_SERVER_AND_GRADER + textwrap.dedent("""
    for pid in (server, grader):
        for name in ("mem", "environ", "maps"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    f.read(16)
                print("READ", pid, name)
            except OSError:
                pass
    """)
    result = only(hostile(correct_with(inside=inside)))
    assert result.status == "passed" and "READ" not in result.checks[0].output, result.checks[0].output


# ---- lying objects and odd answers -----------------------------------------------------------------

LIARS = {
    "__eq__": "class Liar:\n    def __eq__(self, other): return True\n",
    "__array__": ("class Liar:\n    def __array__(self, dtype=None, copy=None):\n"
                  "        s = 1/(1+np.exp(-X)); return s*(1-s)\n"),
    "__array_ufunc__": ("class Liar:\n    def __array_ufunc__(self, *a, **k): return True\n"
                        "    def __float__(self): return 0.1966\n"),
    "__float__": "class Liar(float):\n    def __float__(self): return 0.25\n    def __eq__(self, o): return True\n",
}


@pytest.mark.parametrize("method", sorted(LIARS))
def test_objects_that_lie_never_reach_a_comparison(hostile, method):
    source = ("import numpy as np\nX = None\n" + LIARS[method]
              + "def sigmoid_derivative(x):\n    global X\n    X = x\n"
              + ("    return Liar(-1.0)\n" if method == "__float__" else "    return Liar()\n"))
    result = only(hostile(source))
    assert result.status in ("error", "failed") and result.score == 0, result.feedback


def test_an_ndarray_subclass_is_judged_by_its_raw_data(hostile):
    source = """
    import numpy as np
    class Forged(np.ndarray):
        def __eq__(self, other): return np.ones(np.shape(other), bool)
        def tobytes(self, *a, **k): raise RuntimeError
        def __array__(self, *a, **k): return np.full(self.shape, 0.25)
        def view(self, *a, **k): return np.full(self.shape, 0.25)
        def astype(self, *a, **k): return np.full(self.shape, 0.25)
    def sigmoid_derivative(x):
        return np.zeros(np.shape(x)).view(Forged)
    """
    assert only(hostile(source)).status == "failed"


@pytest.mark.parametrize("value, status", [
    ("np.full(np.shape(x), np.nan)", "failed"), ("np.full(np.shape(x), np.inf)", "failed"),
    ("x * 0 + 1j", "error"), ("None", "error"), ("'0.25'", "error"),
])
def test_nan_inf_complex_none_and_str_answers(hostile, value, status):
    result = only(hostile(f"import numpy as np\ndef sigmoid_derivative(x):\n    return {value}\n"))
    assert result.status == status, result.feedback


def test_mutating_the_inputs_does_not_change_the_reference_or_later_calls(hostile, bank):
    before = [np.array(case.args[0], copy=True) for case in bank[ONE].cases]
    source = """
    import numpy as np
    SEEN = []
    def sigmoid_derivative(x):
        SEEN.append(x)
        for old in SEEN:
            if isinstance(old, np.ndarray):
                old[...] = 0.0        # trash this input and every earlier one
        return np.full(np.shape(x), 0.25)   # right only where x was 0
    """
    result = only(hostile(source))
    assert result.status == "failed"
    assert all(np.array_equal(b, case.args[0]) for b, case in zip(before, bank[ONE].cases))


# ---- code smuggled in data -----------------------------------------------------------------------

PAYLOAD = """
import os
class Payload:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
"""


def test_pickle_payloads_in_return_values_and_exceptions_never_run(hostile, tmp_path):
    marker = Path("/tmp") / f"grader-pickle-marker-{os.getpid()}"
    payload = PAYLOAD.format(marker=marker)
    returned = only(hostile(payload + "\ndef sigmoid_derivative(x):\n    return Payload()\n"))
    raised = only(hostile(payload + "\nclass Boom(Exception):\n    def __reduce__(self):\n"
                          "        return Payload().__reduce__()\n"
                          "def sigmoid_derivative(x):\n    raise Boom(Payload())\n"))
    assert returned.status == "error" and raised.status == "error" and "Boom" in raised.feedback
    assert not marker.exists()


# ---- secrets, network, files, signals --------------------------------------------------------------

@namespaces
@pytest.mark.slow
def test_environment_secrets_are_out_of_reach(tmp_path):
    secret = "s3cr3t-token-for-the-hostile-test"
    source = tmp_path / "solution.py"
    source.write_text(correct_with(inside="""
    import os
    print("ENV", dict(os.environ))
    server = os.getppid()
    with open(f"/proc/{server}/stat") as stat:
        grader = int(stat.read().rsplit(")", 1)[1].split()[1])
    for pid in (server, grader, 1):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                print("PROC", f.read().decode(errors="replace"))
        except OSError as exc:
            print("denied", pid)
    """))
    env = {**os.environ, "GRADER_TEST_SECRET": secret}
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(source), "--exercise", ONE,
                           "--format", "json"], capture_output=True, text=True, timeout=120, env=env)
    report = json.loads(done.stdout)
    assert report["exercises"][0]["status"] == "passed"
    assert "ENV" in report["output"] and secret not in done.stdout and "GRADER_TEST_SECRET" not in done.stdout


@namespaces
def test_no_connection_to_a_loopback_listener(hostile):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    inside = f"""
    import socket
    try:
        client = socket.socket()
        client.settimeout(1)
        client.connect(("127.0.0.1", {port}))
        client.sendall(b"stolen")
        print("CONNECTED")
    except OSError as exc:
        print("refused", exc)
    """
    try:
        result = only(hostile(correct_with(inside=inside)))
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()
    assert result.status == "passed" and "CONNECTED" not in result.checks[0].output


@namespaces
def test_the_grader_and_exercise_files_stay_intact(tmp_path, plugins, box):
    from grader.engine import grade_submission, prepare
    from grader.loader import load_exercises
    exercises = tmp_path / "exercises"
    shutil.copytree(ROOT / "exercises", exercises)
    targets = [exercises / f"{ONE}.yaml", ROOT / "grader" / "__init__.py", EXAMPLE]
    before = {path: path.read_bytes() for path in targets}
    submission = tmp_path / "student" / "solution.py"
    submission.parent.mkdir()
    submission.write_text(correct_with(inside=f"""
    for path in {[str(p) for p in targets] + [str(tmp_path / 'student' / 'solution.py')]!r}:
        try:
            with open(path, "a") as f:
                f.write("# owned")
            print("WROTE", path)
        except OSError:
            pass
        try:
            open(path).read()
            print("READ", path)
        except OSError:
            pass
    """))
    original_submission = submission.read_bytes()
    prepared = prepare([e for e in load_exercises([exercises], plugins) if e.id == ONE], plugins)
    try:
        report = grade_submission(submission, prepared, plugins, box)
    finally:
        changed = [path for path, data in before.items() if path.read_bytes() != data]
        for path in changed:          # never leave the repository damaged, even if the test fails
            path.write_bytes(before[path])
    output = report.exercises[0].checks[0].output
    assert changed == [] and submission.read_bytes() == original_submission
    assert "WROTE" not in output
    assert f"READ {exercises}" not in output and f"READ {submission}" not in output   # hidden


@namespaces
def test_killing_the_fork_server_and_the_grader_is_refused(hostile):
    inside = "import os, signal\n" + FIND_SERVER_AND_GRADER + textwrap.dedent("""
    for pid in (server, grader):
        try:
            os.kill(pid, signal.SIGKILL)
            print("KILLED", pid)
        except OSError:
            pass
    """)
    result = only(hostile(correct_with(inside=inside)))
    assert result.status == "passed" and "KILLED" not in result.checks[0].output


def test_killing_the_fork_server_costs_only_the_students_own_verdict(tmp_path, plugins, bank):
    """Without the uid drop a submission can kill its fork server; the sandbox starts a new one."""
    from grader.engine import grade_submission
    from grader.sandbox.client import Sandbox
    path = tmp_path / "solution.py"
    path.write_text(correct_with(inside="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"))
    with Sandbox(disable={"uid"}) as fallback:
        first = fallback.process.pid
        report = grade_submission(path, [bank[ONE]], plugins, fallback, timeout=2.0)
        # the child may answer before it dies with its server: the verdict is its own either way
        assert report.exercises[0].status in ("error", "passed")
        path.write_text(CORRECT)
        assert statuses(grade_submission(path, [bank[ONE]], plugins, fallback)) == {ONE: "passed"}
        assert fallback.process.pid != first


# ---- what students may legitimately do under the uid drop ------------------------------------------

def test_students_can_import_what_they_need(hostile):
    prelude = "import math, random, statistics\nimport numpy.linalg\nfrom numpy.random import default_rng\n"
    inside = "assert default_rng(0).random() < 1 and numpy.linalg.norm([3, 4]) == 5 and math.pi > 3"
    assert only(hostile(correct_with(prelude, inside))).status == "passed"


@namespaces
def test_files_left_in_tmp_are_gone_before_the_next_submission(hostile):
    first = only(hostile(correct_with(inside="open('/tmp/leak.txt', 'w').write('answers')")))
    second = only(hostile(correct_with(inside="import os\nprint(sorted(os.listdir('/tmp')))")))
    assert first.status == second.status == "passed"
    assert "leak.txt" not in second.checks[0].output
