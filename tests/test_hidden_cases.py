"""Hidden cases: their verdict counts, but nothing the student's code saw in them reaches the
student, however the code tries (prints, globals carried to a visible case, exceptions, answers)."""
from __future__ import annotations

import json

import pytest

from conftest import run_cli

EXERCISE = ("id: tanh-d\nkind: derivative\ntitle: t\nentry: f\nfunction: tanh(x)\n"
            "cases:\n  - {x: [0.5, 1.5]}\n  - {x: [-0.123456, 0.654321], visibility: hidden}\n"
            "  - {x: [2.0, 2.5]}\n")
RIGHT = "1 / np.cosh(x) ** 2"

ATTEMPTS = {
    "print": f"print('seen', list(x))\n    return {RIGHT}",
    "global carried to a later visible case": (
        "SEEN.append(list(x))\n    if len(SEEN) > 1:\n        raise ValueError(repr(SEEN))\n    return " + RIGHT),
    "exception message": "raise ValueError(repr(list(x)))",
    "answer shaped to be shown": "return [list(x), list(x), list(x)]",
    "a file left for the next process": (
        "open('/tmp/seen.txt', 'a').write(repr(list(x)))\n"
        "    import os\n    if os.path.exists('/tmp/seen.txt'):\n"
        "        print(open('/tmp/seen.txt').read())\n    return " + RIGHT),
}


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_nothing_of_a_hidden_case_reaches_the_student(tmp_path, attempt):
    (tmp_path / "t.yaml").write_text(EXERCISE)
    solution = tmp_path / "s.py"
    solution.write_text(f"import numpy as np\nSEEN = []\ndef f(x):\n    {ATTEMPTS[attempt]}\n")
    for fmt in ("text", "json", "junit"):
        result = run_cli("check", str(solution), "--exercises", str(tmp_path), "--format", fmt)
        assert result.returncode in (0, 1), result.stderr
        for secret in ("123456", "0.1235", "654321", "0.6543"):
            assert secret not in result.stdout, (attempt, fmt, result.stdout)


def test_the_hidden_case_still_decides_its_points(tmp_path):
    (tmp_path / "t.yaml").write_text(EXERCISE)
    solution = tmp_path / "s.py"      # right everywhere but at negative inputs: the hidden case
    solution.write_text(f"import numpy as np\ndef f(x):\n    return {RIGHT} if x[0] > 0 else -x\n")
    report = json.loads(run_cli("check", str(solution), "--exercises", str(tmp_path), "--format", "json").stdout)
    (exercise,) = report["exercises"]
    assert [c["status"] for c in exercise["checks"]] == ["passed", "failed", "passed"]
    assert exercise["score"] == pytest.approx(2 / 3)
    assert exercise["checks"][1]["message"].startswith("values differ")
