"""Format `junit`: JUnit XML for CI test reporters, one <testcase> per exercise."""
from __future__ import annotations

import re
import socket
import time
from functools import lru_cache
from typing import TYPE_CHECKING

from grader import hookimpl
from grader.results import ExerciseResult, SubmissionReport

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

@lru_cache(maxsize=None)
def _illegal_xml() -> re.Pattern:
    # XML 1.0 forbids most control characters even escaped; student output may contain anything.
    # Compiled on first use: every command loads this plugin, few write JUnit (14 ms here)
    return re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _etree():
    """ElementTree, imported on first use (as the pattern above)."""
    import xml.etree.ElementTree as ET
    return ET


def xml_text(text: str) -> str:
    """Text safe for an XML document: each forbidden character becomes a visible \\xNN."""
    return _illegal_xml().sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _seconds(result: ExerciseResult) -> float:
    return sum(check.seconds for check in result.checks)


def _summary_line(result: ExerciseResult) -> str:
    """One line for the `message` attribute: the count, and what went wrong in the first failed case."""
    first = next((check for check in result.checks if check.status != "passed"), None)
    lines = result.feedback.splitlines()
    head = lines[0] if lines else result.status
    if first is not None and first.public_message:
        head += f"; {first.case}: {first.public_message.splitlines()[0]}"
    return head


def _student_output(result: ExerciseResult) -> str:
    # what the code printed during a hidden case could spell out its inputs
    parts = [f"--- {check.case} ({check.entry}) ---\n{check.output.rstrip()}\n"
             for check in result.checks if check.output and not check.hidden]
    return "".join(parts)


def _properties(parent: ET.Element, values: dict[str, object]) -> None:
    ET = _etree()
    properties = ET.SubElement(parent, "properties")
    for name, value in values.items():
        ET.SubElement(properties, "property", name=name, value=xml_text(str(value)))


def build_testsuites(report: SubmissionReport, *, definition_line=None) -> ET.Element:
    """The <testsuites> tree; `definition_line(entry)` gives the student's `def` line, when known."""
    ET = _etree()
    results = report.exercises
    failures = sum(r.status == "failed" for r in results)
    errors = sum(r.status in ("error", "timeout") for r in results)
    total_time = f"{report.seconds:.3f}"
    counts = {"tests": str(len(results)), "failures": str(failures), "errors": str(errors)}
    root = ET.Element("testsuites", name="grader", time=total_time, **counts)
    suite = ET.SubElement(root, "testsuite", name=xml_text(f"grader: {report.submission}"), skipped="0",
                          time=total_time, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"),
                          hostname=socket.gethostname(), **counts)
    _properties(suite, {"submission": report.submission, "score": f"{report.score:g}",
                        "max_score": f"{report.max_score:g}",
                        "isolation": ", ".join(report.protections)})
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=result.kind, name=result.id,
                             time=f"{_seconds(result):.3f}", file=xml_text(report.submission))
        first = next((check for check in result.checks if check.status != "passed"), None)
        line = definition_line(first.entry if first else result.entries[0]) if definition_line and result.entries else None
        if line:
            case.set("line", str(line))
        _properties(case, {"title": result.title, "score": f"{result.score:g}",
                           "max_score": f"{result.max_score:g}", "status": result.status})
        if result.status == "failed":
            problem = ET.SubElement(case, "failure", message=xml_text(_summary_line(result)), type="failed")
            problem.text = xml_text(result.feedback)
        elif result.status in ("error", "timeout"):
            problem = ET.SubElement(case, "error", message=xml_text(_summary_line(result)), type=result.status)
            problem.text = xml_text(result.feedback)
        output = _student_output(result)
        if output:
            ET.SubElement(case, "system-out").text = xml_text(output)
    if report.output:
        ET.SubElement(suite, "system-out").text = xml_text(report.output)
    return root


class JunitFormat:
    name = "junit"
    description = "JUnit XML: one testcase per exercise (classname = kind, name = id)"

    def render(self, report: SubmissionReport) -> str:
        from grader.github import definition_line
        root = build_testsuites(report, definition_line=lambda entry: definition_line(report.submission, entry))
        ET = _etree()
        ET.indent(root)
        return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


@hookimpl
def grader_register_formats(registry):
    registry.add(JunitFormat())
