"""Where a formula is not differentiable at a case's inputs: a read-only walk of a parsed Expression
that finds calls of kinked functions (relu, leaky_relu, abs at 0) or singular ones (log, sqrt at 0)
whose argument lies at, or within a central difference's step of, the bad point, and whose
one-sided derivatives there actually change the reference answer."""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np

from grader.expr import CALL, Expression
from grader.functions import Function

# function -> (the bad point, "kink" | "singularity"); a plugin function may declare its own by
# giving its Function a `kinks` attribute of the same shape, e.g. ((0.0, "kink"),)
KNOWN_POINTS: dict[str, tuple[tuple[float, str], ...]] = {
    "relu": ((0.0, "kink"),),
    "leaky_relu": ((0.0, "kink"),),
    "abs": ((0.0, "kink"),),
    "log": ((0.0, "singularity"),),
    "sqrt": ((0.0, "singularity"),),
}
# the course's central-difference delta: closer than this, a student's difference straddles the
# point, so neither the reference's one-sided rule nor the student's average can be trusted
STEP = 1e-3
_SIDE = 1e-9


@dataclass(frozen=True)
class KinkHit:
    """A call whose argument is at (or within STEP of) a point where the function is not differentiable."""
    function: str
    part: str              # the call as written in the formula, e.g. "relu(x - 1)"
    point: float
    what: str              # "kink" or "singularity"
    argument: float        # the argument value closest to the point
    index: tuple[int, ...]  # where in the argument array

    def describe(self) -> str:
        where = f" (element {list(self.index)})" if self.index else ""
        return (f"{self.part} has its argument at {self.argument:.6g}{where}, "
                f"{'at' if self.argument == self.point else f'within {STEP:g} of'} the {self.what} of "
                f"{self.function} at {self.point:g}")


def bad_points(fn: Function) -> tuple[tuple[float, str], ...]:
    declared = getattr(fn, "kinks", None)
    return tuple(declared) if declared else KNOWN_POINTS.get(fn.name, ())


def kinked_calls(expression: Expression) -> list[tuple[int, Function, str]]:
    """(instruction, function, source text) of every call of a function with a known bad point."""
    return [(i, p, expression._parts[i]) for i, (op, _, _, p) in enumerate(expression._code)
            if op == CALL and bad_points(p)]


def _one_sided(fn: Function, point: float, what: str, side: float) -> Function:
    """fn whose derivative near `point` is the one-sided limit from `side` (at a singularity, a
    different slope: the derivative is unbounded there, so any value is as good as the reference's)."""
    rule = fn.derivative

    def derivative(x):
        normal = np.asarray(rule(x), dtype=np.float64)
        near = np.abs(np.real(x) - point) < STEP
        if what == "singularity":  # does this factor matter? a doubled slope shows it, without NaN * 0
            limit = 2.0 * normal + 1.0
        else:
            limit = np.asarray(rule(np.full_like(np.real(x), point + side)), dtype=np.float64)
        return np.where(near, limit, normal)

    return replace(fn, derivative=derivative)


def _with_call(expression: Expression, index: int, fn: Function) -> Expression:
    changed = copy.copy(expression)
    code = list(expression._code)
    op, a, b, _ = code[index]
    code[index] = (op, a, b, fn)
    changed._code = tuple(code)
    return changed


def _same(first: np.ndarray, second: np.ndarray) -> bool:
    return first.shape == second.shape and bool(np.allclose(first, second, rtol=1e-9, atol=1e-12,
                                                            equal_nan=False))


def kink_hits(expression: Expression, values: Mapping[str, object], wrt: list[str]) -> list[KinkHit]:
    """Calls whose argument hits a bad point for these inputs AND whose one-sided derivatives
    there change d sum(formula)/d wrt: e.g. relu(x) at x = 0 is flagged, square(leaky_relu(x))
    at 0 is not (the factor 2*leaky_relu(0) = 0 makes both sides agree)."""
    calls = kinked_calls(expression)
    if not calls or not wrt:
        return []
    env = expression._inputs(values, False)
    with np.errstate(all="ignore"):
        forward = expression._forward(env)
    hits = []
    for index, fn, part in calls:
        argument = np.real(np.asarray(forward[expression._code[index][1]], dtype=np.complex128))
        for point, what in bad_points(fn):
            distance = np.abs(argument - point)
            if not np.any(distance < STEP):
                continue
            if not _changes_reference(expression, index, fn, point, what, values, wrt):
                continue
            where = np.unravel_index(int(np.argmin(distance)), argument.shape) if argument.ndim else ()
            hits.append(KinkHit(fn.name, part, point, what, float(argument[where]),
                                tuple(int(i) for i in where)))
    return hits


def _changes_reference(expression, index, fn, point, what, values, wrt) -> bool:
    for side in (-_SIDE, _SIDE):
        changed = _with_call(expression, index, _one_sided(fn, point, what, side))
        for name in wrt:
            if not _same(expression.gradient(name, **values), changed.gradient(name, **values)):
                return True
    return False
