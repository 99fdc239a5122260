"""Accuracy and speed of the reference core against finite differences and numdifftools.

Run `python benchmarks/numeric.py` (needs the `[bench]` extra: mpmath, sympy; numdifftools is
optional). Truth is computed by sympy (symbolic derivative) evaluated in 50 digits by mpmath.
Prints markdown tables for the README.
"""
from __future__ import annotations

import statistics
import sys
import time
import warnings
from typing import Callable

import mpmath
import numpy as np
import sympy

from grader.functions import builtin_registry
from grader.numeric import derivative, gradient

mpmath.mp.dps = 50
EPS = np.finfo(float).eps
_x = sympy.Symbol("x", real=True)
_sig = 1 / (1 + sympy.exp(-_x))

# formula of the expression language, the same function in sympy
FUNCTIONS = {
    "exp(x)": sympy.exp(_x), "log(x)": sympy.log(_x), "sqrt(x)": sympy.sqrt(_x),
    "sin(x)": sympy.sin(_x), "cos(x)": sympy.cos(_x), "tanh(x)": sympy.tanh(_x),
    "sigmoid(x)": _sig, "softplus(x)": sympy.log(1 + sympy.exp(_x)), "square(x)": _x ** 2,
    "x**3": _x ** 3, "relu(x)": sympy.Piecewise((_x, _x > 0), (0, True)),
    "leaky_relu(x)": sympy.Piecewise((_x, _x > 0), (sympy.Rational(1, 5) * _x, True)),
    "abs(x)": sympy.Abs(_x), "(x**2 + 1)**3": (_x ** 2 + 1) ** 3,
    "sigmoid(tanh(x) * 3)": 1 / (1 + sympy.exp(-3 * sympy.tanh(_x))),
    "log(sigmoid(x))": sympy.log(_sig),
}
HARD = [("sigmoid(x)", 30.0), ("sigmoid(x)", -30.0), ("tanh(x)", 20.0), ("log(x)", 1e-3),
        ("x**3", 1e-4), ("softplus(x)", 25.0), ("softplus(x)", -25.0), ("sin(x)", 100.0),
        ("relu(x)", 0.01), ("leaky_relu(x)", -0.01), ("abs(x)", -0.01), ("log(sigmoid(x))", -30.0)]
REGULAR = [(f, x) for f in FUNCTIONS for x in (0.3, 0.9, 1.7, 2.6)] + \
          [(f, x) for f in FUNCTIONS if f not in ("log(x)", "sqrt(x)") for x in (-0.4, -1.9)]


def truth(formula: str, x: float) -> mpmath.mpf:
    return mpmath.mpf(sympy.N(sympy.diff(FUNCTIONS[formula], _x).subs(_x, sympy.Float(x, 60)), 50))


def student_function(formula: str) -> Callable:
    """The plain numpy function a finite-difference method gets (the course's `func`)."""
    name = formula.split("(")[0]
    if formula == f"{name}(x)" and name in builtin_registry():
        return builtin_registry().callable(name)
    from grader.expr import parse
    return parse(formula).as_callable()


def course_central(f: Callable, x: float) -> float:
    delta = 1e-3  # the course's deriv(func, input_, delta=0.001)
    return (f(x + delta) - f(x - delta)) / (2 * delta)


def optimal_central(f: Callable, x: float) -> float:
    h = np.cbrt(EPS) * max(1.0, abs(x))  # balances truncation h**2 against rounding eps/h
    return (f(x + h) - f(x - h)) / ((x + h) - (x - h))


def methods() -> dict[str, Callable[[str, float], float] | None]:
    found: dict[str, Callable[[str, float], float] | None] = {
        "grader.numeric (formula, reverse mode)": lambda fo, x: derivative(fo, x),
        "grader.numeric (callable, complex step)": lambda fo, x: derivative(student_function(fo), x),
        "course central difference, delta 1e-3": lambda fo, x: course_central(student_function(fo), x),
        "central difference, step cbrt(eps)*max(1,|x|)": lambda fo, x: optimal_central(student_function(fo), x),
    }
    try:
        import numdifftools as nd
        found["numdifftools Derivative"] = lambda fo, x: nd.Derivative(student_function(fo))(x)
    except ImportError:
        found["numdifftools Derivative"] = None
    return found


def rel_error(got: float, exact: mpmath.mpf) -> float:
    got = float(np.asarray(got))
    if not np.isfinite(got):
        return float("inf")
    return float(abs(mpmath.mpf(got) - exact) / abs(exact)) if exact != 0 else abs(got)


def measure(method: Callable, points: list, truths: list) -> tuple[list[float], float]:
    """Errors per point, and the time per derivative of a second (warm: caches filled) pass."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numdifftools warns on all-NaN steps at the hard points
        errors = [rel_error(method(formula, x), exact) for (formula, x), exact in zip(points, truths)]
        start = time.perf_counter()
        for formula, x in points:
            method(formula, x)
    return errors, (time.perf_counter() - start) / len(points)


def fmt(v: float) -> str:
    return "inf" if not np.isfinite(v) else f"{v:.1e}"


def accuracy_table() -> None:
    hard_truth = [truth(f, x) for f, x in HARD]
    regular_truth = [truth(f, x) for f, x in REGULAR]
    print(f"Relative error against sympy/mpmath truth: {len(HARD)} hard points, "
          f"{len(REGULAR)} regular points.\n")
    print("| method | hard: worst | hard: median | regular: worst | regular: median | time per derivative |")
    print("|---|---|---|---|---|---|")
    for name, method in methods().items():
        if method is None:
            print(f"| {name} | not installed | | | | |")
            continue
        hard, t1 = measure(method, HARD, hard_truth)
        regular, t2 = measure(method, REGULAR, regular_truth)
        per = (t1 * len(HARD) + t2 * len(REGULAR)) / (len(HARD) + len(REGULAR))
        print(f"| {name} | {fmt(max(hard))} | {fmt(statistics.median(hard))} | {fmt(max(regular))} "
              f"| {fmt(statistics.median(regular))} | {per * 1e6:.0f} µs |")
        sys.stdout.flush()


def best_time(fn: Callable, number: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def mp_sigmoid_sum_gradient(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    Z = [[mpmath.fsum(mpmath.mpf(X[i, k]) * mpmath.mpf(W[k, j]) for k in range(X.shape[1]))
          for j in range(W.shape[1])] for i in range(X.shape[0])]
    P = [[mpmath.exp(-z) / (1 + mpmath.exp(-z)) ** 2 for z in row] for row in Z]
    return np.array([[float(mpmath.fsum(P[i][j] * mpmath.mpf(W[k, j]) for j in range(W.shape[1])))
                      for k in range(X.shape[1])] for i in range(X.shape[0])])


def matrix_table() -> None:
    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(100, 50)), rng.normal(size=(50, 20))
    sigmoid = builtin_registry().callable("sigmoid")

    def closed_form() -> np.ndarray:
        t = np.exp(-np.abs(X @ W))
        return (t / (1 + t) ** 2) @ W.T

    def course_loop() -> np.ndarray:  # per-element central difference, delta 1e-3
        out = np.empty_like(X)
        for k in np.ndindex(X.shape):
            up, down = X.copy(), X.copy()
            up[k] += 1e-3
            down[k] -= 1e-3
            out[k] = (np.sum(sigmoid(up @ W)) - np.sum(sigmoid(down @ W))) / 2e-3
        return out

    core = best_time(lambda: gradient("sum(sigmoid(X @ W))", "X", X=X, W=W), 300)
    hand = best_time(closed_form, 300)
    start = time.perf_counter()
    loop_result = course_loop()
    loop = time.perf_counter() - start
    # accuracy on a smaller, saturating problem where 50-digit truth is affordable
    Xs, Ws = rng.normal(size=(12, 6)) * 4, rng.normal(size=(6, 4)) * 2
    exact = mp_sigmoid_sum_gradient(Xs, Ws)
    core_err = np.max(np.abs(gradient("sum(sigmoid(X @ W))", "X", X=Xs, W=Ws) - exact) / np.abs(exact))
    t = np.exp(-np.abs(Xs @ Ws))
    hand_err = np.max(np.abs((t / (1 + t) ** 2) @ Ws.T - exact) / np.abs(exact))
    print("\ndL/dX for L = sum(sigmoid(X @ W)), X 100x50, W 50x20 (accuracy: X 12x6, W 6x4, |X @ W| up to ~30)\n")
    print("| method | time | vs closed form | worst relative error |")
    print("|---|---|---|---|")
    print(f"| closed form sigma'(X @ W) @ W.T | {hand * 1e6:.0f} µs | 1.0x | {fmt(hand_err)} |")
    print(f"| grader.numeric.gradient | {core * 1e6:.0f} µs | {core / hand:.1f}x | {fmt(core_err)} |")
    loop_err = np.max(np.abs(loop_result - closed_form()) / np.abs(closed_form()))
    print(f"| course central difference, element by element | {loop * 1e3:.0f} ms | "
          f"{loop / hand:.0f}x | {fmt(loop_err)} (vs closed form) |")


if __name__ == "__main__":
    started = time.perf_counter()
    accuracy_table()
    matrix_table()
    print(f"\n(benchmark ran in {time.perf_counter() - started:.1f} s)")
