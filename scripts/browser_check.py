"""Open the HTML reports in headless Chromium: screenshots, and a failure on console messages or missing plots.

    python scripts/browser_check.py [--out DIR]

Builds two pages, a failing student's report (`grader check --format html`) and a class report
(`render_class_report`), then for each: `--dump-dom` (the plots' <svg> elements must be in the
rendered DOM, no external src/href), the console log on stderr (any console message fails: the
pages have no script, so a message means a broken page), and a PNG screenshot. A self-test page
that logs to the console first proves the console capture works. Chromium is Debian's
`chromium`; when missing and running as root, the script installs it with apt-get. Exit 0 when
every page passes, 1 when one fails, 2 when the check cannot run.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\]?\s*(.*)")

# a student who makes the course's common mistakes, and prints hostile text
MISTAKES = [
    ("/ (2 * delta)", "/ delta"),
    ("return s * (1 - s)", "return np.where(np.asarray(x) < 0, -s * (1 - s), s * (1 - s))"),
    ("return df_du(u(x)) * du_dx(x)", "return df_du(u(x))"),
    ("return dsda * dadx, dsda * dady", "return dsda * dady, 2 * dsda * dadx"),
    ("return np.dot(dLdN, dNdX)", "return np.dot(dLdN, dNdX).T"),
    ("dSdN = deriv(sigma, N)\n    dNdX", "dSdN = sigma(N)\n    dNdX"),
]
HOSTILE = "print('<script>console.error(\"injected\")</script><img src=http://example.invalid/x.png>')\n"


class CheckFailed(Exception):
    pass


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("browser check: installing chromium with apt-get", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        found = shutil.which("chromium")
        if found:
            return found
    raise SystemExit("browser check: chromium not found; install it (Debian: apt-get install -y chromium)")


def run_chromium(chromium: str, page: Path, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
                              capture_output=True, text=True, timeout=120)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "data", "poster") and value and \
                    re.match(r"\s*(https?:|//|ftp:)", value, re.IGNORECASE):
                self.found.append((tag, name, value))


def external_links(dom: str) -> list[tuple[str, str, str]]:
    """Attributes of real elements (not escaped text) that would load something over the network."""
    parser = _Links()
    parser.feed(dom)
    return parser.found


def console_messages(stderr: str) -> list[str]:
    return [match.group(1).strip() for line in stderr.splitlines() if (match := CONSOLE.search(line))]


def check_page(chromium: str, page: Path, shot: Path, min_plots: int) -> list[str]:
    """Problems found in one page (empty when it renders cleanly); writes the screenshot."""
    problems = []
    dom_run = run_chromium(chromium, page, "--enable-logging=stderr", "--v=0", "--dump-dom")
    dom = dom_run.stdout
    if dom_run.returncode != 0 or "<body" not in dom:
        return [f"chromium could not render the page (exit {dom_run.returncode}): {dom_run.stderr[-500:]}"]
    problems += [f"console message: {text}" for text in console_messages(dom_run.stderr)]
    figures = re.findall(r'<figure class="plot">(.*?)</figure>', dom, re.DOTALL)
    with_svg = [f for f in figures if "<svg" in f and ("<path" in f or "<rect" in f)]
    if len(with_svg) < min_plots or len(with_svg) < len(figures):
        problems.append(f"plots missing: {len(with_svg)} rendered <svg> plots of {len(figures)} figures, "
                        f"at least {min_plots} expected")
    if 'class="note no-plots"' in dom:
        problems.append("the page says matplotlib is missing: pip install \"calculus-grader[report]\"")
    problems += [f"external reference in the page: <{tag} {name}={value!r}>" for tag, name, value in external_links(dom)]
    shot_run = run_chromium(chromium, page, f"--screenshot={shot}", "--window-size=1280,2400")
    if shot_run.returncode != 0 or not shot.is_file() or shot.stat().st_size < 5000:
        problems.append(f"no screenshot ({shot_run.returncode}): {shot_run.stderr[-300:]}")
    elif _blank(shot):
        problems.append(f"the screenshot {shot} is blank")
    return problems


def _blank(png: Path) -> bool:
    try:
        from PIL import Image
    except ImportError:
        return False                      # size check above is the fallback
    with Image.open(png) as image:
        low, high = image.convert("L").getextrema()
    return high - low < 32


def self_test(chromium: str, work: Path) -> None:
    """The console capture must see a message a page logs, or a clean run proves nothing."""
    page = work / "console-self-test.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("self-test-7731")</script></body></html>')
    found = console_messages(run_chromium(chromium, page, "--enable-logging=stderr", "--v=0", "--dump-dom").stderr)
    if not any("self-test-7731" in text for text in found):
        raise SystemExit("browser check: chromium's console log is not captured on stderr; cannot check pages")


def build_pages(work: Path) -> list[tuple[str, Path, int]]:
    """(name, page, least number of plots) for a failing student's report and a class report."""
    example = (ROOT / "examples" / "solution.py").read_text()
    wrong = example
    for old, new in MISTAKES:
        if old not in wrong:
            raise SystemExit(f"browser check: the example solution changed; cannot apply {old!r}")
        wrong = wrong.replace(old, new, 1)
    wrong = HOSTILE + wrong
    student = work / "student.py"
    student.write_text(wrong)
    report_page = work / "student-report.html"
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(student), "--format", "html",
                           "--output", str(report_page)], capture_output=True, text=True, timeout=300)
    if done.returncode not in (0, 1) or not report_page.is_file():
        raise SystemExit(f"browser check: grader check failed: {done.stderr[-800:]}")
    class_page = work / "class-report.html"
    class_page.write_text(class_report_page(work, example, wrong))
    return [("student report", report_page, len(MISTAKES)), ("class report", class_page, 1)]


def class_report_page(work: Path, example: str, wrong: str) -> str:
    from grader.class_report import render_class_report
    from grader.engine import grade_submission, prepare
    from grader.loader import load_exercises
    from grader.plugin_manager import get_plugins
    from grader.sandbox.client import Sandbox
    plugins = get_plugins()
    prepared = prepare(load_exercises(None, plugins), plugins)
    sources = {"alice.py": example, "bob.py": wrong, "carol.py": example.replace(*MISTAKES[0]),
               "dave <b>.py": example.replace(*MISTAKES[4]), "erin.py": wrong.replace(*reversed(MISTAKES[0]))}
    reports = {}
    with Sandbox() as sandbox:
        for name, source in sources.items():
            path = work / f"class-{len(reports)}.py"
            path.write_text(textwrap.dedent(source))
            reports[name] = grade_submission(path, prepared, plugins, sandbox, display_name=name)
    return render_class_report(reports, "Calculus grader: class report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for the pages and screenshots (default: a temp dir)")
    args = parser.parse_args(argv)
    work = args.out or Path(tempfile.mkdtemp(prefix="browser-check-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print('browser check: matplotlib is missing: pip install "calculus-grader[report]"', file=sys.stderr)
        return 2
    chromium = find_chromium()
    self_test(chromium, work)
    failed = False
    for name, page, min_plots in build_pages(work):
        shot = page.with_suffix(".png")
        problems = check_page(chromium, page, shot, min_plots)
        for problem in problems:
            print(f"FAIL {name}: {problem}")
        if not problems:
            print(f"ok   {name}: {page} -> {shot}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
