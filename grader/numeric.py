"""The reference core: exact-to-float64 derivatives and gradients of formulas or callables.

Formulas (and `Expression`s) are differentiated in reverse mode with the registry's stable
derivative rules: no step size, so no truncation or cancellation error. Callables are
differentiated numerically with the most accurate method that applies (see `derivative`).
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from grader.errors import GraderError
from grader.expr import Expression, ExpressionError, parse

COMPLEX_STEP = 1e-20  # no subtraction in complex step, so the step can be tiny: truncation ~ h**2
RIDDERS_SHRINK, RIDDERS_LEVELS = 1.4, 12


def _expression(f: str | Expression) -> Expression:
    return parse(f) if isinstance(f, str) else f


def derivative(f: str | Expression | Callable, x: object) -> np.ndarray:
    """f'(x) elementwise, shaped like x (0-d for a scalar), as a fresh float64 array.

    - formula or Expression with one free variable (usually `x`): reverse mode, exact to
      rounding (a formula without inputs has derivative 0).
    - elementwise callable: complex step Im f(x + ih)/h when f accepts complex input and its
      result is finite and agrees with a central difference (so a non-analytic implementation,
      e.g. one using np.abs on complex, is caught); otherwise Ridders' Richardson-extrapolated
      central difference (about 1e-10..1e-13 relative on smooth functions).
    """
    if isinstance(f, (str, Expression)):
        expression = _expression(f)
        if len(expression.variables) > 1:
            raise ExpressionError(f"derivative needs one input, the formula has "
                                  f"{', '.join(sorted(expression.variables))}", formula=expression.text,
                                  part=", ".join(sorted(expression.variables)))
        if not expression.variables:
            return np.zeros(np.shape(x))
        (name,) = expression.variables
        return expression.gradient(name, **{name: x})
    if not callable(f):
        raise GraderError(f"derivative needs a formula or a callable, not {type(f).__name__}")
    xs = _real_copy(x)

    def elementwise(values: np.ndarray) -> np.ndarray:
        out = np.asarray(f(values.copy()))
        if out.shape != values.shape:
            raise GraderError(f"derivative: {getattr(f, '__name__', 'the callable')} is not "
                              f"elementwise: input shape {values.shape}, output shape {out.shape}")
        return out

    return _numeric_derivative(elementwise, xs)


def gradient(f: str | Expression | Callable, wrt: str, **values) -> np.ndarray:
    """d sum(f) / d values[wrt], shaped like values[wrt], as a fresh float64 array.

    For a formula or Expression: reverse mode, exact to rounding (e.g.
    `gradient("sum(sigmoid(X @ W))", "X", X=X, W=W)`). For a callable `f(**values)`: each element
    of `values[wrt]` is perturbed in turn (complex step, falling back to Ridders' extrapolated
    central difference as in `derivative`), so it costs a few calls of f per element.
    """
    if isinstance(f, (str, Expression)):
        return _expression(f).gradient(wrt, **values)
    if not callable(f):
        raise GraderError(f"gradient needs a formula or a callable, not {type(f).__name__}")
    if wrt not in values:
        raise GraderError(f"gradient: no input named '{wrt}' (inputs: {', '.join(sorted(values))})")
    base = {k: _real_copy(v) for k, v in values.items()}
    target = base[wrt]

    def one_at_a_time(xs: np.ndarray) -> np.ndarray:
        # element k of the result depends only on xs[k]: sum f with element k of wrt set to xs[k]
        out = np.empty(xs.shape, dtype=xs.dtype)
        for k in np.ndindex(xs.shape):
            moved = target.astype(xs.dtype)
            moved[k] = xs[k]
            out[k] = np.sum(f(**{**{n: v.copy() for n, v in base.items()}, wrt: moved}))
        return out

    return _numeric_derivative(one_at_a_time, target)


def _real_copy(x: object) -> np.ndarray:
    try:
        return np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise GraderError(f"input is not a real number or array: {exc}") from None


def _numeric_derivative(g: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Derivative of an elementwise map g (out[k] depends on x[k] only) at x."""
    with np.errstate(all="ignore"):
        result = _complex_step(g, x)
        if result is None:
            result = _ridders(g, x)
    return np.asarray(result, dtype=np.float64)


def _complex_step(g: Callable, x: np.ndarray) -> np.ndarray | None:
    """Im g(x + ih) / h, or None when g does not accept complex input or is not analytic."""
    try:
        with warnings.catch_warnings():  # e.g. ComplexWarning from float(): detected below
            warnings.simplefilter("ignore")
            out = g(x + 1j * COMPLEX_STEP)
    except Exception:  # anything from a function that only works on reals: use differences
        return None
    if not np.iscomplexobj(out) or not np.all(np.isfinite(out)):
        return None
    result = np.imag(out) / COMPLEX_STEP
    # a result that ignores the imaginary part (np.abs, np.real, float()) disagrees with a
    # central difference far beyond that difference's own error
    # (two step sizes: their disagreement bounds the difference's own truncation error, which is
    # large for fast-oscillating functions such as cos(x**9))
    h = np.cbrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(x))

    def central(step):
        return (np.real(g(x + step)) - np.real(g(x - step))) / ((x + step) - (x - step))

    coarse, fine = central(h), central(h / 2)
    scale = np.abs(result) + np.abs(np.real(out)) / np.maximum(1.0, np.abs(x)) + 1e-300
    allowed = 4 * np.abs(coarse - fine) + 1e-5 * scale
    if np.all(np.isfinite(fine)) and np.all(np.abs(fine - result) <= allowed):
        return result
    return None


def _ridders(g: Callable, x: np.ndarray) -> np.ndarray:
    """Ridders' method: central differences at shrinking steps, Richardson-extrapolated, keeping
    per element the estimate with the smallest error estimate (Numerical Recipes, dfridr)."""
    h = np.where(x == 0, 0.1, 0.1 * np.minimum(np.abs(x), 1.0))
    shrink2 = RIDDERS_SHRINK ** 2

    def central(step: np.ndarray) -> np.ndarray:
        up, down = x + step, x - step  # divide by the representable step actually taken
        return (np.real(g(up)) - np.real(g(down))) / (up - down)

    previous = [central(h)]
    best = previous[0]
    error = np.full(x.shape, np.inf)
    done = np.zeros(x.shape, dtype=bool)
    for _ in range(1, RIDDERS_LEVELS):
        h = h / RIDDERS_SHRINK
        row = [central(h)]
        factor = shrink2
        for j in range(1, len(previous) + 1):
            row.append((row[j - 1] * factor - previous[j - 1]) / (factor - 1.0))
            factor *= shrink2
            estimate = np.maximum(np.abs(row[j] - row[j - 1]), np.abs(row[j] - previous[j - 1]))
            better = (estimate <= error) & ~done
            best = np.where(better, row[j], best)
            error = np.where(better, estimate, error)
        # higher order got worse by a clear margin: rounding dominates, stop refining there
        done |= np.abs(row[-1] - previous[-1]) >= 2.0 * error
        previous = row
        if done.all():
            break
    return best
