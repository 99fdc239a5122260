"""The sandbox: the trust-boundary invariants, the protections report, limits, and the fallback path
(protections switched off one by one, verdicts unchanged)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import grader_for, statuses
from hostile_helpers import (CORRECT, DAEMON, IS_ROOT_LINUX, correct_with, leftover_children, namespaces,
                             pristine_spare, processes_of_uid, zombie_free)

from grader import transport
from grader.sandbox.client import Sandbox, SandboxError
from grader.sandbox.hardening import OPTIONAL
from grader.sandbox.limits import parse_limits

ONE = "sigmoid-derivative"
# submission -> verdict that must hold with every protection on or off
VERDICTS = {
    "correct": (CORRECT, "passed"),
    "wrong": ("def sigmoid_derivative(x):\n    return x * 0 + 1.0\n", "failed"),
    "loop": (correct_with(inside="while True: pass"), "timeout"),
    "segfault": (correct_with(inside="import ctypes; ctypes.string_at(0)"), "error"),
    "memory": (correct_with(inside="big = np.ones(3 * 2**30 // 8)"), "error"),
    "daemon": (correct_with(inside=DAEMON), "passed"),
    "exit": (correct_with(inside="import sys; sys.exit(0)"), "error"),
}


def grade_in(box, tmp_path, plugins, bank, source: str, **options):
    return grader_for(tmp_path, plugins, bank, box, default_ids=(ONE,), timeout=1.0)(source, **options)


@pytest.mark.slow
@pytest.mark.parametrize("switched_off", [[name] for name in OPTIONAL] + [list(OPTIONAL)],
                         ids=[*OPTIONAL, "all"])
def test_verdicts_stay_right_with_protections_switched_off(switched_off, tmp_path, plugins, bank):
    with Sandbox(disable=switched_off) as box:
        for name, (source, verdict) in VERDICTS.items():
            report = grade_in(box, tmp_path, plugins, bank, source)
            assert statuses(report) == {ONE: verdict}, (name, report.exercises[0].feedback)
        for key in switched_off:
            assert OPTIONAL[key] not in report.protections
            assert report.inactive_protections[OPTIONAL[key]] == "switched off"
        assert leftover_children(box) == []


def _children(pid: int) -> list[int]:
    from hostile_helpers import children_of
    return children_of(pid)


def test_unknown_protection_names_are_refused():
    with pytest.raises(SandboxError, match="unknown protection"):
        Sandbox(disable={"netwrok"})


def test_a_run_directory_taken_by_the_previous_student_is_skipped(tmp_path, plugins, bank):
    # without the uid drop a child runs as the fork server's user and can create the next run's
    # directory name (a counter): the server takes the next free one instead of failing
    taker = correct_with(inside="""
    import os
    here = os.getcwd()
    os.makedirs(os.path.join(os.path.dirname(here), str(int(os.path.basename(here)) + 1)), exist_ok=True)
    """)
    with Sandbox(disable=["uid"]) as box:
        first = grade_in(box, tmp_path, plugins, bank, taker)
        server = box.process.pid
        second = grade_in(box, tmp_path, plugins, bank, CORRECT)
        assert box.process.pid == server and box.process.poll() is None     # not restarted
    assert statuses(first) == statuses(second) == {ONE: "passed"}


def test_the_fork_server_outlives_a_ctrl_c(sandbox, tmp_path, plugins, bank):
    # Ctrl-C reaches the whole process group; the server ends when the grader closes its socket
    import signal
    sandbox.wait_ready()
    server = sandbox.process.pid
    os.kill(server, signal.SIGINT)
    report = grade_in(sandbox, tmp_path, plugins, bank, CORRECT)
    assert statuses(report) == {ONE: "passed"}
    assert sandbox.process.pid == server and sandbox.process.poll() is None       # not restarted


def test_the_environment_variable_switches_protections_off(monkeypatch, tmp_path, plugins, bank):
    monkeypatch.setenv("GRADER_SANDBOX_DISABLE", "network,mount")
    with Sandbox() as box:
        report = grade_in(box, tmp_path, plugins, bank, CORRECT)
    assert report.inactive_protections["network namespace"] == "switched off"
    assert "mount namespace" not in report.protections


def test_the_report_lists_active_and_inactive_protections(grade):
    data = grade(CORRECT, ONE).to_dict()["isolation"]
    assert {"separate process", "memory limit", "cpu limit", "scrubbed environment", "stdin closed",
            "output cap"} <= set(data["protections"])
    assert not set(data["protections"]) & set(data["inactive"])
    if IS_ROOT_LINUX:
        assert data["inactive"] == {}, data["inactive"]
        assert {"network namespace", "mount namespace", "no new privileges", "process limit",
                "descendants killed", "hidden paths"} <= set(data["protections"])
        assert any(p.startswith("unprivileged uid ") for p in data["protections"])


@pytest.mark.skipif(IS_ROOT_LINUX, reason="the non-root fallback is exercised where not root")
def test_without_root_the_uid_drop_is_reported_inactive(grade):
    assert grade(CORRECT, ONE).inactive_protections["unprivileged uid"] == "not root"


@namespaces
def test_concurrent_sandboxes_get_different_uids():
    with Sandbox() as first, Sandbox() as second:
        assert first.slot.uid != second.slot.uid
        first.close()
        with Sandbox() as third:              # a freed slot may be claimed again, never a held one
            assert third.slot.uid != second.slot.uid


@namespaces
def test_every_descendant_is_gone_when_run_returns(sandbox, tmp_path, plugins, bank):
    report = grade_in(sandbox, tmp_path, plugins, bank, correct_with(inside=DAEMON))
    assert statuses(report) == {ONE: "passed"}
    assert zombie_free(processes_of_uid(sandbox.slot.uid)) == []


# ---- the spare: the next child, forked ahead --------------------------------------------------------

PRINTS_ITS_PID = "import os\nprint(os.getpid())\n" + CORRECT


def _socket_inodes(pid: int) -> set[str]:
    return {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")}


def test_the_next_child_is_forked_ahead_and_runs_the_next_submission(tmp_path, plugins, bank):
    with Sandbox() as box:
        grade_in(box, tmp_path, plugins, bank, CORRECT)
        spare = pristine_spare(box)
        assert spare is not None
        report = grade_in(box, tmp_path, plugins, bank, PRINTS_ITS_PID)
        assert statuses(report) == {ONE: "passed"}
        assert report.output.splitlines()[0] == str(spare)
        assert pristine_spare(box) not in (None, spare)


def test_the_spare_holds_no_socket_of_the_server_but_its_own(tmp_path, plugins, bank):
    with Sandbox() as box:
        grade_in(box, tmp_path, plugins, bank, CORRECT)
        spare = pristine_spare(box)
        theirs, ours = _socket_inodes(spare), _socket_inodes(box.process.pid)
        assert len(theirs) == 1 and not theirs & ours     # the grader's control socket is not there


@pytest.mark.parametrize("trouble", ["SIGKILL", "SIGSTOP"])
def test_a_spare_killed_or_stopped_from_outside_is_replaced_by_a_plain_fork(trouble, tmp_path, plugins, bank):
    import signal
    import time
    with Sandbox() as box:
        grade_in(box, tmp_path, plugins, bank, CORRECT)
        spare = pristine_spare(box)
        os.kill(spare, getattr(signal, trouble))
        while trouble == "SIGKILL" and zombie_free([spare]):
            time.sleep(0.01)            # dead by the time the next run comes
        report = grade_in(box, tmp_path, plugins, bank, PRINTS_ITS_PID)
        assert statuses(report) == {ONE: "passed"}, report.exercises[0].feedback
        assert report.output.splitlines()[0] != str(spare)
        assert box.process.poll() is None and pristine_spare(box) not in (None, spare)
        assert zombie_free([spare]) == []


def test_jobs_too_large_for_the_spare_fork_as_before(tmp_path, plugins, bank):
    # the job names every hidden path: thousands of them do not fit the spare's one packet, and
    # the server stops forking spares it could not use
    many = [str(tmp_path / f"hidden-{i:05d}-{'x' * 20}") for i in range(3000)]
    with Sandbox() as box:
        grade_in(box, tmp_path, plugins, bank, CORRECT)
        spare = pristine_spare(box)
        for _ in range(2):
            report = grade_in(box, tmp_path, plugins, bank, PRINTS_ITS_PID, hidden_paths=many)
            assert statuses(report) == {ONE: "passed"} and report.output.splitlines()[0] != str(spare)
            assert pristine_spare(box) is None and leftover_children(box) == []
        assert zombie_free([spare]) == []


def test_the_spare_dies_with_its_server(tmp_path, plugins, bank):
    import signal
    import time
    box = Sandbox()
    try:
        grade_in(box, tmp_path, plugins, bank, CORRECT)
        spare = pristine_spare(box)
        os.kill(spare, signal.SIGSTOP)      # it cannot notice its socket closing: only PDEATHSIG ends it
        box.process.kill()
        box.process.wait()
        deadline = time.monotonic() + 5
        while zombie_free([spare]) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert zombie_free([spare]) == []
    finally:
        box.close()


# ---- trust-boundary invariants -------------------------------------------------------------------

def test_the_fork_server_is_a_fresh_interpreter_not_a_fork_of_the_grader(sandbox, tmp_path, plugins, bank):
    sandbox.wait_ready()
    pid = sandbox.process.pid
    with open(f"/proc/{pid}/stat") as stat:
        assert int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        argv = cmdline.read().split(b"\0")
    assert argv[0] == sys.executable.encode() and b"-c" in argv and any(b"zygote.main" in a for a in argv)
    # it loads plugins (students receive registered functions) but never exercises or cases
    source = correct_with(inside="""
    import sys
    print(sorted(m for m in ("grader.engine", "grader.loader") if m in sys.modules))
    """)
    report = grade_in(sandbox, tmp_path, plugins, bank, source)
    assert report.output.splitlines()[0] == "[]", report.output


def test_the_child_is_never_sent_a_reference_value(sandbox, bank, monkeypatch):
    from grader import framing
    from grader.engine import _exercise_run
    from grader.sandbox import client
    sent: list[bytes] = []
    pack, anonymous_file = framing.pack, client._anonymous_file
    # everything that leaves the grader: control messages and the child's payload file
    monkeypatch.setattr(framing, "pack", lambda message: sent.append(pack(message)) or sent[-1])
    monkeypatch.setattr(client, "_anonymous_file", lambda data: sent.append(data) or anonymous_file(data))
    item = bank[ONE]
    outcome = sandbox.run(CORRECT, "/nonexistent/solution.py", [_exercise_run(item, None, None)])
    assert [o.status for o in outcome.outcomes[0]] == ["ok"] * len(item.cases)
    wire = b"".join(sent)
    assert all(data in wire for data in _array_inputs(item))               # the inputs are sent
    for case in item.cases:
        expected = np.asarray(case.expected, dtype=float)
        for form in (expected.tobytes(), transport.encode(expected)["data"].encode()):
            assert form not in wire                                         # the references never


def _array_inputs(item) -> list[bytes]:
    """The bytes of a prepared exercise's array inputs, as they travel (at least one)."""
    found = [np.ascontiguousarray(arg).tobytes() for case in item.cases for arg in case.args
             if isinstance(arg, np.ndarray) and arg.size > 2]
    assert found
    return found


def _writable_memory(pid: int) -> bytes:
    """The heap and the anonymous writable mappings of a process (as root: it is not dumpable)."""
    found = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as memory:
        for line in maps:
            fields = line.split()
            if "w" not in fields[1] or (len(fields) > 5 and fields[5] != "[heap]"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                memory.seek(start)
                found.append(memory.read(end - start))
            except OSError:
                pass
    return b"".join(found)


@pytest.mark.skipif(not IS_ROOT_LINUX, reason="reading the fork server's memory needs root")
def test_the_fork_server_never_holds_a_submission_or_its_inputs(sandbox, tmp_path, plugins, bank):
    # every later child starts as a copy of the fork server's memory: what it once decoded
    # (another student's code, a hidden case's inputs) would be readable there by ctypes
    secret = "zq_" + os.urandom(6).hex()
    report = grade_in(sandbox, tmp_path, plugins, bank, CORRECT + f"\nSECRET = {secret!r}\n")
    assert statuses(report) == {ONE: "passed"}
    memory = _writable_memory(sandbox.process.pid)
    assert len(memory) > 1 << 20
    assert secret.encode() not in memory
    assert not any(data in memory for data in _array_inputs(bank[ONE]))


def test_exceptions_travel_as_text_and_pickles_are_never_loaded():
    assert transport.decode({"__object__": "os.system"}) == "os.system"
    assert isinstance(transport.decode({"__object__": "x"}), transport.Opaque)
    for bad in ({"__pickle__": "gASV"}, {"__nd__": "object", "shape": [1], "data": ""},
                {"__nd__": "float64", "shape": [2], "data": "AAAAAAAAAAA="},
                {"__nd__": "float64", "shape": [-1], "data": ""}, {"__float__": "1e400"}, [1, 2]):
        with pytest.raises(transport.TransportError):
            transport.decode(bad)


_TAGS = ["__float__", "__complex__", "__seq__", "items", "__nd__", "shape", "data", "raw", "__object__", "__fn__"]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 400, 10 ** 400) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["nan", "inf", "tuple", "list", "float64", "AAAAAAAAAAA=", ""]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_TAGS) | st.text(max_size=4),
                                                                inner, max_size=4),
    max_leaves=20)


@settings(max_examples=800, deadline=None)
@given(_JSON)
def test_decoding_anything_a_child_can_send_raises_only_transport_errors(node):
    # a hostile child's values once escaped as TypeError, ValueError or OverflowError and stopped
    # the grader (or, in a batch, left the student ungraded as a grader failure)
    try:
        transport.decode(node)
    except transport.TransportError:
        pass


@pytest.mark.parametrize("node", [
    {"__complex__": 1}, {"__complex__": ["a", "b"]}, {"__complex__": ["1", "2", "3"]}, 10 ** 400,
    {"__nd__": "float64", "shape": [0, 2 ** 70], "data": ""},
    {"__nd__": "float64", "shape": [0, 2 ** 62, 2 ** 62], "data": ""}])
def test_values_that_escaped_decoding_are_transport_errors(node):
    with pytest.raises(transport.TransportError):
        transport.decode(node)


@pytest.mark.parametrize("data", ["not base64!", "AAAAAAAAAAA", "AAAAAAAAAAé=", "=AAAAAAAAAAA"])
def test_undecodable_array_data_is_a_transport_error(data):
    # binascii.Error and UnicodeEncodeError once escaped decode and stopped the grader
    with pytest.raises(transport.TransportError):
        transport.decode({"__nd__": "float64", "shape": [1], "data": data})


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"t": "done"} trailing', b"\xff{}",
                                  b"[1]", b"", b'{"t": '], ids=["deep", "trailing", "utf8", "list", "empty", "cut"])
def test_a_frame_that_is_not_one_json_object_is_a_transport_error(body):
    # a frame nested deeply enough to exhaust the recursion limit once escaped as RecursionError
    from grader import framing
    reader = framing.FrameReader()
    with pytest.raises(framing.TransportError):
        reader.feed(framing._HEADER.pack(len(body)) + body)


def test_frames_cut_anywhere_are_put_back_together():
    from grader import framing
    data = b"".join(framing.pack({"t": "result", "i": i, "value": [i] * i}) for i in range(5))
    for cut in range(1, len(data)):
        reader = framing.FrameReader()
        assert reader.feed(data[:cut]) + reader.feed(data[cut:]) == [
            {"t": "result", "i": i, "value": [i] * i} for i in range(5)]


def test_the_parent_rebuilds_arrays_as_plain_float_data():
    class Sneaky(np.ndarray):
        pass
    value = transport.decode(transport.encode(np.arange(6.0).reshape(2, 3).view(Sneaky)))
    assert type(value) is np.ndarray and value.shape == (2, 3) and value.flags.writeable


def test_inputs_are_fresh_copies_for_every_call(grade):
    source = """
    import numpy as np
    SEEN = []
    def sigmoid_derivative(x):
        assert not any(x is old or np.shares_memory(x, old) for old in SEEN)
        SEEN.append(x)
        s = 1 / (1 + np.exp(-x))
        result = s * (1 - s)
        if isinstance(x, np.ndarray):
            x[...] = 7.0
        return result
    """
    assert statuses(grade(source, ONE)) == {ONE: "passed"}


def test_the_harness_binds_its_references_before_student_code(grade):
    source = """
    import builtins, json, base64, numpy
    builtins.isinstance = lambda *a: False
    builtins.type = lambda *a: int
    json.dumps = lambda *a, **k: "{}"
    base64.b64encode = lambda *a, **k: b""
    numpy.ascontiguousarray = lambda *a, **k: numpy.zeros(1)
    def sigmoid_derivative(x):
        s = 1 / (1 + numpy.exp(-x))
        return s * (1 - s)
    """
    assert statuses(grade(source, ONE)) == {ONE: "passed"}


# ---- limits --------------------------------------------------------------------------------------

def test_limits_from_yaml_keys_are_validated():
    assert parse_limits({"cpu": 2, "processes": 4, "file_size": "1M", "open_files": 32}) == {
        "cpu": 2.0, "processes": 4, "file_size": 1024 * 1024, "open_files": 32}
    for bad, words in (({"cpus": 1}, "unknown limit 'cpus'"), ({"processes": 0}, "positive"),
                       ({"open_files": 3}, "at least 16"), ({"file_size": "lots"}, "not a size"), (5, "mapping")):
        with pytest.raises(ValueError, match=words):
            parse_limits(bad)


def test_a_limits_key_in_an_exercise_file_reaches_the_child(tmp_path, plugins, sandbox):
    from grader.engine import grade_submission, prepare
    from grader.loader import load_exercises
    from conftest import ROOT
    text = (ROOT / "exercises" / f"{ONE}.yaml").read_text() + "limits:\n  file_size: 1K\n"
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / f"{ONE}.yaml").write_text(text)
    prepared = prepare(load_exercises([tmp_path / "ex"], plugins), plugins)
    assert prepared[0].exercise.limits.file_size == 1024
    path = tmp_path / "solution.py"
    path.write_text(correct_with(inside="with open('f', 'wb') as f:\n    f.write(b'x' * 4096)"))
    report = grade_submission(path, prepared, plugins, sandbox)
    assert report.exercises[0].status == "error" and "File too large" in report.exercises[0].feedback


def test_cli_limit_flags(tmp_path):
    from conftest import run_cli
    path = tmp_path / "solution.py"
    path.write_text(correct_with(inside="with open('f', 'wb') as f:\n    f.write(b'x' * 4096)"))
    done = run_cli("check", str(path), "--exercise", ONE, "--file-size", "1K")
    assert done.returncode == 1 and "File too large" in done.stdout
    bad = run_cli("check", str(path), "--exercise", ONE, "--open-files", "2")
    assert bad.returncode == 2 and "--open-files" in bad.stderr


def test_output_is_capped_in_the_parent(grade):
    report = grade(correct_with(inside="print('y' * 300000)"), ONE)
    assert report.exercises[0].status == "passed"
    assert len(report.output) <= 64 * 1024 and report.output_truncated >= 300000 * 7 - 64 * 1024


def test_without_memfd_the_payload_travels_in_an_unlinked_temporary_file(monkeypatch, grade):
    # macOS and other systems have no memfd_create: the same run through a temporary file
    import grader.sandbox.client as client
    made = []
    original = client._anonymous_file
    monkeypatch.delattr(os, "memfd_create", raising=False)
    monkeypatch.setattr(client, "_anonymous_file", lambda data: made.append(data) or original(data))
    report = grade(CORRECT, ONE)
    assert statuses(report) == {ONE: "passed"} and made
