"""The pieces of the HTML reports: the page shell, inline-SVG plots (matplotlib, optional), bar charts.

matplotlib is imported only when a plot is drawn, so loading the plugins (every `grader check`)
stays fast and works without it. Every piece of text that reaches a page goes through `html.escape`
here or in the caller: student output and exception messages are hostile input.
"""
from __future__ import annotations

import html
import io
import re
from typing import Any

import numpy as np

INSTALL_HINT = 'pip install "calculus-grader[report]"'

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 60em;
       padding: 0 1em; color: #1d2330; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.25em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; width: 100%; }
th, td { text-align: left; padding: .35em .7em; border-bottom: 1px solid #dde1e8; vertical-align: top; }
th { background: #f3f5f8; }
.passed { color: #17753a; font-weight: 600; } .failed { color: #b3261e; font-weight: 600; }
.error, .timeout { color: #8a4b00; font-weight: 600; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; border-radius: 4px; font-size: .9em;
      white-space: pre-wrap; }
.diagnosis { background: #fff7e0; border-left: 4px solid #e0a800; padding: .5em .8em; margin: .6em 0; }
.hint { background: #e8f3ff; border-left: 4px solid #2f7de1; padding: .5em .8em; margin: .6em 0; }
.note { color: #5b6475; font-style: italic; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #5b6475; font-size: .9em; }
.bar { background: #2f7de1; height: .9em; display: inline-block; vertical-align: middle; }
.bar-track { background: #e4e8ee; width: 10em; display: inline-block; vertical-align: middle; }
"""


def e(text: Any) -> str:
    """Escaped text for HTML content and attributes."""
    return html.escape(str(text), quote=True)


def html_page(title: str, body: str) -> str:
    """One self-contained page: inline CSS, no script, no external asset, no network."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{e(title)}</title>\n<link rel=\"icon\" href=\"data:,\">\n<style>{_CSS}</style>\n"
            f"</head>\n<body>\n{body}\n</body>\n</html>\n")


def anchor(name: str) -> str:
    """An id usable in `href="#..."`, from an exercise id."""
    return "ex-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


# --- matplotlib, optional ---------------------------------------------------------------------

def load_pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend, or None when it is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "calculus-grader",
                                "font.size": 9})
    return plt


def figure_svg(plt, fig) -> str:
    """The figure as an inline <svg> element (no XML prolog, no DOCTYPE, no metadata links)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight",
                metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def elementwise_plot(plt, x: np.ndarray | None, expected: np.ndarray, got: np.ndarray,
                     wrong: np.ndarray, x_label: str) -> str:
    """The student's values against the reference over the case's points, wrong points circled."""
    expected, got, wrong = expected.ravel(), got.ravel(), wrong.ravel()
    if x is None:
        x, x_label = np.arange(expected.size, dtype=float), "element index"
    x = np.asarray(x, dtype=float).ravel()
    order = np.argsort(x, kind="stable")
    x, expected, got, wrong = x[order], expected[order], got[order], wrong[order]
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.plot(x, expected, "-o", color="#2f7de1", markersize=4, label="reference")
    shown = np.where(np.isfinite(got), got, np.nan)
    ax.plot(x, shown, "--x", color="#e0701b", markersize=6, label="your answer")
    if wrong.any():
        ax.scatter(x[wrong], np.where(np.isfinite(got[wrong]), got[wrong], expected[wrong]), s=110,
                   facecolors="none", edgecolors="#b3261e", linewidths=1.4, label="outside tolerance")
    ax.axhline(0, color="#c6ccd6", linewidth=.8, zorder=0)
    ax.set_xlabel(x_label)
    ax.set_ylabel("value")
    ax.grid(alpha=.3)
    ax.legend(loc="best", fontsize=8)
    return figure_svg(plt, fig)


def error_heatmap(plt, expected: np.ndarray, got: np.ndarray) -> str:
    """The error (your answer - reference) per element of a matrix, values written in small ones."""
    error = np.atleast_2d(got - expected)
    fig, ax = plt.subplots(figsize=(min(1.0 + .7 * error.shape[1], 8.0), min(1.0 + .55 * error.shape[0], 6.0)))
    finite = error[np.isfinite(error)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    image = ax.imshow(np.nan_to_num(error, nan=0.0, posinf=limit, neginf=-limit), cmap="RdBu_r",
                      vmin=-limit or -1, vmax=limit or 1)
    fig.colorbar(image, ax=ax, label="your answer - reference")
    if error.size <= 64:
        for (row, col), value in np.ndenumerate(error):
            dark = np.isfinite(value) and abs(value) > .6 * limit
            ax.text(col, row, f"{value:.2g}", ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    _integer_ticks(ax, error.shape)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    return figure_svg(plt, fig)


def side_by_side_heatmaps(plt, expected: np.ndarray, got: np.ndarray) -> str:
    """Reference and answer next to each other, when their shapes differ (a transpose, a sum)."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2))
    for ax, values, label in ((axes[0], expected, "reference"), (axes[1], got, "your answer")):
        grid = np.atleast_2d(values) if values.ndim <= 2 else values.reshape(values.shape[0], -1)
        image = ax.imshow(np.nan_to_num(grid), cmap="viridis")
        fig.colorbar(image, ax=ax)
        ax.set_title(f"{label}, shape {values.shape}")
        _integer_ticks(ax, grid.shape)
    return figure_svg(plt, fig)


def _integer_ticks(ax, shape: tuple) -> None:
    """Rows and columns are indices: ticks at integers only, a few when there are many."""
    ax.set_yticks(range(0, shape[0], max(1, shape[0] // 8)))
    ax.set_xticks(range(0, shape[1], max(1, shape[1] // 8)))


def point_argument(arguments: dict | None, shape: tuple) -> tuple[str, np.ndarray] | None:
    """The case input an elementwise answer is plotted against: the first numeric one shaped like it."""
    for name, value in (arguments or {}).items():
        if isinstance(value, str):          # a function handed to the student
            continue
        try:
            values = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if values.shape == tuple(shape):
            return name, values
    return None


# --- plain SVG, no dependency ------------------------------------------------------------------

def bar_chart_svg(labels: list[str], counts: list[int], x_title: str, y_title: str) -> str:
    """A small bar chart drawn directly as SVG (the class histogram needs no matplotlib)."""
    width, height, left, bottom, top = 560, 240, 44, 46, 14
    plot_w, plot_h = width - left - 10, height - bottom - top
    highest = max(counts or [0]) or 1
    step = plot_w / max(len(counts), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(y_title)} by {e(x_title)}">',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#8a93a3"/>']
    for tick in sorted({0, highest // 2, highest}):
        y = top + plot_h - plot_h * tick / highest
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{tick}</text>')
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e4e8ee"/>')
    for i, (label, count) in enumerate(zip(labels, counts)):
        bar_h = plot_h * count / highest
        x = left + i * step + step * .12
        parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{step * .76:.1f}" '
                     f'height="{bar_h:.1f}" fill="#2f7de1"><title>{e(label)}: {count}</title></rect>')
        if count:
            parts.append(f'<text x="{x + step * .38:.1f}" y="{top + plot_h - bar_h - 3:.1f}" font-size="11" '
                         f'text-anchor="middle">{count}</text>')
        parts.append(f'<text x="{x + step * .38:.1f}" y="{top + plot_h + 14:.1f}" font-size="10" '
                     f'text-anchor="middle">{e(label)}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="11" '
                 f'text-anchor="middle">{e(x_title)}</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{e(y_title)}</text>')
    parts.append("</svg>")
    return "".join(parts)
