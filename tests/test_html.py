"""HTML reports: self-contained pages, hostile student text escaped, plots with matplotlib, the install
hint without it, and the class report."""
from __future__ import annotations

import re
import sys
from html.parser import HTMLParser

import pytest

from conftest import run_cli

HOSTILE = "<script>alert('x')</script><img src=http://example.invalid/a.png onerror=alert(1)>"


class Page(HTMLParser):
    """The tags and attributes of a page, as a browser would see them (escaped text is not a tag)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def links(self) -> list[str]:
        return [value for _, attrs in self.tags for key, value in attrs.items()
                if key in ("src", "href", "xlink:href") and value]


def _wrong_solution(example_source: str) -> str:
    return (f"print({HOSTILE!r})\n" + example_source
            .replace("return s * (1 - s)", "return 2 * s * (1 - s)")
            .replace("return np.dot(dLdN, dNdX)", "return np.dot(dLdN, dNdX).T")
            + f"\ndef matmul_backward_first(X, W):\n    raise ValueError({HOSTILE!r})\n")


@pytest.fixture
def report(grade, example_source):
    return grade(_wrong_solution(example_source), "sigmoid-derivative", "matrix-sum-backward", "matmul-backward",
                 "partial-add")


def _render(plugins, report) -> str:
    return plugins.formats.get("html").render(report)


def _assert_self_contained_and_escaped(page: str) -> None:
    parsed = Page(page)
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "iframe", "object", "embed")]
    assert not [link for link in parsed.links() if re.match(r"\s*(https?:|//)", link)], parsed.links()
    assert not [tag for tag, attrs in parsed.tags if tag == "img"]
    assert not any(key.startswith("on") for _, attrs in parsed.tags for key in attrs)
    assert not re.search(r"<link[^>]+stylesheet", page)


def test_page_is_self_contained_and_escapes_hostile_student_text(plugins, report, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # the fast path; plots are tested below
    page = _render(plugins, report)
    _assert_self_contained_and_escaped(page)
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&lt;img src=http://example.invalid/a.png"
    assert escaped in page                                    # printed output and exception message
    assert page.count(escaped) >= 2


def test_verdict_table_and_sections(plugins, report, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = _render(plugins, report)
    rows = re.findall(r"<tr><td>(.*?)</tr>", page, re.DOTALL)
    assert len(rows) == 4
    assert any("sigmoid-derivative" in row and "FAIL" in row and "2 times the derivative" in row for row in rows)
    assert any("matmul-backward" in row and "ERROR" in row for row in rows)
    assert any("partial-add" in row and "PASS" in row for row in rows)
    assert 'id="ex-sigmoid-derivative"' in page and 'href="#ex-sigmoid-derivative"' in page
    assert "Hint:</strong> sigma&#x27;(x) = sigma(x) * (1 - sigma(x))." in page


def test_without_matplotlib_the_page_says_how_to_get_plots(plugins, report, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = _render(plugins, report)
    assert 'pip install &quot;calculus-grader[report]&quot;' in page
    assert "<svg" not in page


@pytest.mark.slow
def test_with_matplotlib_every_failed_exercise_has_a_plot(plugins, report):
    pytest.importorskip("matplotlib")
    page = _render(plugins, report)
    _assert_self_contained_and_escaped(page)
    figures = re.findall(r'<figure class="plot">(.*?)</figure>', page, re.DOTALL)
    # sigmoid: values against x; matrix-sum: transposed, so reference and answer side by side
    assert len(figures) == 2
    assert all("<svg" in figure and "</svg>" in figure for figure in figures)
    sigmoid, matrix = figures
    assert "Your answer against the reference" in sigmoid and "reference" in sigmoid and "your answer" in sigmoid
    assert "the shapes differ" in matrix
    assert "calculus-grader[report]" not in page
    assert "<!DOCTYPE svg" not in page and "<?xml" not in page


@pytest.mark.slow
def test_matrix_error_heat_map(grade, plugins, example_source):
    pytest.importorskip("matplotlib")
    wrong = example_source.replace("return np.dot(dLdN, dNdX)", "return np.dot(dLdN, dNdX) * 1.5")
    page = _render(plugins, grade(wrong, "matrix-sum-backward"))
    (figure,) = re.findall(r'<figure class="plot">(.*?)</figure>', page, re.DOTALL)
    assert "Error per element" in figure and "your answer - reference" in figure


@pytest.mark.slow
def test_check_writes_html_with_the_cli(tmp_path, example_source):
    student = tmp_path / "student.py"
    student.write_text(example_source.replace("/ (2 * delta)", "/ delta"))
    out = tmp_path / "report.html"
    done = run_cli("check", str(student), "--exercise", "numeric-derivative", "--format", "html",
                   "--output", str(out))
    assert done.returncode == 1, done.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "did you divide by delta instead of 2*delta" in page


def test_class_report(grade, example_source):
    from grader.class_report import render_class_report
    wrong = example_source.replace("return s * (1 - s)", "return -s * (1 - s)")
    ids = ("sigmoid-derivative", "matmul-backward")
    reports = {"alice.py": grade(example_source, *ids), "bob.py": grade(wrong, *ids),
               "carol.py": grade(wrong, *ids), HOSTILE: grade(example_source, *ids)}
    page = render_class_report(reports, "Week 3 <b>")
    _assert_self_contained_and_escaped(page)
    assert "<title>Week 3 &lt;b&gt;</title>" in page and "&lt;script&gt;alert" in page
    # histogram: 2 students at 100%, 2 at 50% (one of two exercises)
    bars = re.findall(r"<title>([\d-]+%): (\d+)</title>", page)
    assert dict(bars)["90-100%"] == "2" and dict(bars)["50-60%"] == "2" and sum(int(n) for _, n in bars) == 4
    rows = dict(re.findall(r"<tr><td>([\w-]+)<br>.*?</td>(.*?)</tr>", page, re.DOTALL))
    assert "2/4 (50%)" in rows["sigmoid-derivative"] and "opposite sign" in rows["sigmoid-derivative"]
    assert "(2 students)" in rows["sigmoid-derivative"]
    assert "4/4 (100%)" in rows["matmul-backward"] and "none" in rows["matmul-backward"]


def test_loading_the_plugins_does_not_import_matplotlib():
    import subprocess
    code = ("import sys; from grader.plugin_manager import get_plugins; get_plugins().formats; "
            "print('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_class_report_of_no_submissions():
    from grader.class_report import render_class_report
    assert "No submissions were graded." in render_class_report({}, "Empty")
