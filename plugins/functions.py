"""Built-in functions of the expression language, each with a numerically stable derivative rule.

Value implementations accept complex input where the function is analytic (branches test
`np.real(x)`), so complex-step differentiation can cross-check the derivative rules.
"""
from __future__ import annotations

import numpy as np

from grader import hookimpl
from grader.functions import REDUCTION, Function

LEAKY_SLOPE = 0.2  # the course's leaky ReLU


def _sign(x: np.ndarray) -> np.ndarray:
    """+1 where Re x >= 0, else -1: lets exp(-_sign(x) * x) = exp(-|x|) also on complex input."""
    return np.where(np.real(x) >= 0, 1.0, -1.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows, and neither branch subtracts nearly equal values
    if np.iscomplexobj(x):
        t = np.exp(-_sign(x) * x)
        return np.where(np.real(x) >= 0, 1.0 / (1.0 + t), t / (1.0 + t))
    t = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + t)
    return np.where(x >= 0, r, t * r)


def _sigmoid_prime(x: np.ndarray) -> np.ndarray:
    t = np.exp(-np.abs(x))  # sigma' is even; sigma*(1 - sigma) would cancel to 1e-3 error at 30
    return t / (1.0 + t) ** 2


def _tanh_prime(x: np.ndarray) -> np.ndarray:
    t = np.exp(-2.0 * np.abs(x))  # 1/cosh^2 = 4t/(1+t)^2 without cosh overflowing beyond 710
    return 4.0 * t / (1.0 + t) ** 2


def _softplus(x: np.ndarray) -> np.ndarray:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): exact at -25 (1.4e-11) and no overflow at +800
    positive = np.where(np.real(x) >= 0, x, 0.0)
    return positive + np.log1p(np.exp(-_sign(x) * x))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.where(np.real(x) > 0, x, 0.0 * x)


def _leaky_relu(x: np.ndarray) -> np.ndarray:
    return np.where(np.real(x) > 0, x, LEAKY_SLOPE * x)


def _abs(x: np.ndarray) -> np.ndarray:
    if np.iscomplexobj(x):  # |x| continued analytically from the real axis, away from 0
        return np.where(np.real(x) < 0, -x, x)
    return np.abs(x)


def _sum(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.sum(x))


def _mean(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.mean(x))


BUILTINS = (
    Function("exp", "e**x", np.exp, np.exp),
    Function("log", "natural logarithm, x > 0", np.log, lambda x: 1.0 / x),
    Function("sqrt", "square root, x >= 0", np.sqrt, lambda x: 0.5 / np.sqrt(x)),
    Function("sin", "sine", np.sin, np.cos),
    Function("cos", "cosine", np.cos, lambda x: -np.sin(x)),
    Function("tanh", "hyperbolic tangent", np.tanh, _tanh_prime),
    Function("sigmoid", "logistic sigmoid 1/(1 + e**-x)", _sigmoid, _sigmoid_prime),
    Function("relu", "max(x, 0)", _relu, lambda x: np.where(x > 0, 1.0, 0.0)),
    Function("leaky_relu", f"x if x > 0 else {LEAKY_SLOPE}*x", _leaky_relu,
             lambda x: np.where(x > 0, 1.0, LEAKY_SLOPE)),
    Function("softplus", "log(1 + e**x)", _softplus, _sigmoid),
    Function("abs", "|x|", _abs, np.sign),
    Function("square", "x**2", np.square, lambda x: 2.0 * x),
    Function("sum", "sum of all elements (a scalar)", _sum, np.ones_like, kind=REDUCTION,
             linear=True),
    Function("mean", "mean of all elements (a scalar)", _mean,
             lambda x: np.full_like(x, 1.0 / max(x.size, 1)), kind=REDUCTION, linear=True),
)


@hookimpl
def grader_register_functions(registry) -> None:
    for fn in BUILTINS:
        registry.add(fn)
