"""Tests for grader/numeric.py: hard points against mpmath, matrix gradients, callables, speed."""
from __future__ import annotations


import mpmath
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from grader.errors import GraderError
from grader.expr import ExpressionError, parse
from grader.functions import builtin_registry
from grader.numeric import derivative, gradient

mpmath.mp.dps = 40
mp = mpmath.mpf
TOL = 1e-13  # the target: relative error against high-precision truth


def mp_sigmoid(t):
    return 1 / (1 + mpmath.exp(-t))


def relative(got, truth) -> float:
    return float(abs((mp(float(got)) - truth) / truth)) if truth != 0 else abs(float(got))


# formula, x, the exact derivative at x in 40 digits
HARD_POINTS = [
    ("sigmoid(x)", 30.0, lambda t: mpmath.diff(mp_sigmoid, t)),
    ("sigmoid(x)", -30.0, lambda t: mpmath.diff(mp_sigmoid, t)),
    ("tanh(x)", 20.0, lambda t: mpmath.sech(t) ** 2),
    ("log(x)", 1e-3, lambda t: 1 / t),
    ("x**3", 1e-4, lambda t: 3 * t ** 2),
    ("softplus(x)", 25.0, mp_sigmoid),
    ("softplus(x)", -25.0, mp_sigmoid),
    ("sin(x)", 100.0, mpmath.cos),
    ("cos(x)", 100.0, lambda t: -mpmath.sin(t)),
    ("exp(x)", -30.0, mpmath.exp),
    ("sqrt(x)", 1e-3, lambda t: 1 / (2 * mpmath.sqrt(t))),
    ("square(x)", 1e-4, lambda t: 2 * t),
    ("relu(x)", 2.5, lambda t: mp(1)),
    ("relu(x)", -2.5, lambda t: mp(0)),
    ("leaky_relu(x)", -2.5, lambda t: mp("0.2")),
    ("leaky_relu(x)", 0.75, lambda t: mp(1)),
    ("abs(x)", -3.0, lambda t: mp(-1)),
    ("abs(x)", 1e-3, lambda t: mp(1)),
    # compositions, including the course's chain-rule example
    ("(x**2 + 1)**3", 1.7, lambda t: 6 * t * (t ** 2 + 1) ** 2),
    ("sigmoid(x) * (1 - sigmoid(x))", 30.0,
     lambda t: mpmath.diff(lambda u: mp_sigmoid(u) * (1 - mp_sigmoid(u)), t)),
    ("sigmoid(tanh(x) * 30)", 0.5, lambda t: mpmath.diff(lambda u: mp_sigmoid(mpmath.tanh(u) * 30), t)),
    ("softplus(square(x))", -5.0, lambda t: mpmath.diff(lambda u: mpmath.log1p(mpmath.exp(u * u)), t)),
    ("log(sigmoid(x))", -30.0, lambda t: 1 - mp_sigmoid(t)),
    ("exp(sin(x)) / sqrt(x)", 100.0,
     lambda t: mpmath.diff(lambda u: mpmath.exp(mpmath.sin(u)) / mpmath.sqrt(u), t)),
]


@pytest.mark.parametrize("formula, x, truth", HARD_POINTS, ids=[f"{f}@{x}" for f, x, _ in HARD_POINTS])
def test_hard_points_formula_exact_to_float64(formula, x, truth):
    got = derivative(formula, x)
    assert got.shape == () and got.dtype == np.float64
    assert relative(got, truth(mp(x))) <= TOL


@pytest.mark.parametrize("formula, x, truth", HARD_POINTS[:18], ids=[f"{f}@{x}" for f, x, _ in HARD_POINTS[:18]])
def test_hard_points_for_the_callables_handed_to_students(formula, x, truth):
    name = formula.split("(")[0]
    f = builtin_registry().callable(name) if name != "x**3" else parse("x**3").as_callable()
    assert relative(derivative(f, x), truth(mp(x))) <= TOL  # complex step route


def mp_matrix_gradient(X, W, outer, prime):
    """(dL/dX, sum of |terms|) for L = outer(f(X @ W)) in 40 digits: scale * f'(Z) @ W.T."""
    Z = [[mpmath.fsum(mp(X[i, k]) * mp(W[k, j]) for k in range(X.shape[1]))
          for j in range(W.shape[1])] for i in range(X.shape[0])]
    scale = mp(1) if outer == "sum" else mp(1) / (len(Z) * len(Z[0]))
    shape = X.shape
    truth, terms = np.zeros(shape), np.zeros(shape)
    for i in range(shape[0]):
        for k in range(shape[1]):
            parts = [scale * prime(Z[i][j]) * mp(W[k, j]) for j in range(W.shape[1])]
            truth[i, k] = float(mpmath.fsum(parts))
            terms[i, k] = float(mpmath.fsum(abs(p) for p in parts))
    return truth, terms


@pytest.mark.parametrize("formula, outer, prime", [
    ("sum(sigmoid(X @ W))", "sum", lambda z: mpmath.exp(-z) / (1 + mpmath.exp(-z)) ** 2),
    ("mean(tanh(X @ W))", "mean", lambda z: mpmath.sech(z) ** 2),
])
def test_matrix_gradients_against_high_precision(formula, outer, prime):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(6, 4)) * 4       # X @ W reaches saturation (|z| up to ~30)
    W = rng.normal(size=(4, 3)) * 2
    got = gradient(formula, "X", X=X, W=W)
    truth, terms = mp_matrix_gradient(X, W, outer, prime)
    assert got.shape == X.shape
    # an element of dL/dX is a sum over j of terms of both signs: its float64 rounding is
    # relative to the size of those terms (the sum's condition), which is what we bound
    assert np.max(np.abs(got - truth) / terms) <= TOL
    assert np.max(np.abs(got - truth) / np.abs(truth)) <= TOL  # and elementwise, at this seed


def test_matrix_gradient_with_respect_to_w_and_course_shapes():
    X = np.array([[0.2, -1.5, 3.0]])                 # the course's (1, n)
    W = np.array([[0.5], [-2.0], [1.0]])
    g = gradient("sum(sigmoid(X @ W))", "W", X=X, W=W)
    t = np.exp(-abs((X @ W).item()))  # sigma'(z), written without s * (1 - s) cancelling
    np.testing.assert_allclose(g, X.T * t / (1 + t) ** 2, rtol=1e-15)
    np.testing.assert_array_equal(gradient("X @ W", "X", X=X, W=W), W.T)  # matmul-backward


def test_derivative_shapes_dtypes_and_copies():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    d = derivative("x**2", x)
    assert d.shape == (2, 2) and d.dtype == np.float64
    np.testing.assert_array_equal(d, 2 * x.astype(float))
    assert derivative("x**2", 3).shape == () and float(derivative("x**2", 3)) == 6.0
    assert derivative("x**2", [1, 2]).tolist() == [2.0, 4.0]
    assert derivative("sigmoid(z)", 0.0) == 0.25  # the one free variable needn't be called x
    np.testing.assert_array_equal(derivative("7", np.ones(3)), np.zeros(3))
    same = np.array([1.0, 2.0])
    out = derivative("x", same)
    assert out is not same and not np.shares_memory(out, same)


def test_derivative_refuses_ambiguous_or_wrong_input():
    with pytest.raises(ExpressionError, match="derivative needs one input, the formula has x, y"):
        derivative("x * y", 1.0)
    with pytest.raises(GraderError, match="formula or a callable"):
        derivative(3.0, 1.0)
    with pytest.raises(GraderError, match="not elementwise"):
        derivative(lambda v: np.sum(v), np.ones(3))
    with pytest.raises(GraderError, match="not a real number"):
        derivative(np.exp, "abc")


def test_callable_that_rejects_complex_falls_back_to_ridders():
    def real_only(v):
        return np.array([float(t) ** 3 for t in np.atleast_1d(v)]).reshape(np.shape(v))
    x = np.array([-2.0, 1e-4, 0.5, 3.0])
    np.testing.assert_allclose(derivative(real_only, x), 3 * x ** 2, rtol=1e-10)


def test_non_analytic_callable_is_detected_and_differenced():
    # x * |x| with np.abs: on complex input np.abs is the modulus, so complex step says |x|
    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(derivative(lambda v: v * np.abs(v), x), 2 * np.abs(x), rtol=1e-10)


def test_gradient_of_a_callable_of_several_inputs():
    sigmoid = builtin_registry().callable("sigmoid")
    rng = np.random.default_rng(1)
    X, W = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    got = gradient(lambda X, W: sigmoid(X @ W), "X", X=X, W=W)
    np.testing.assert_allclose(got, gradient("sum(sigmoid(X @ W))", "X", X=X, W=W), rtol=1e-13)
    with pytest.raises(GraderError, match="no input named 'V'"):
        gradient(lambda X, W: X, "V", X=X, W=W)


def test_gradient_formula_path_and_expression_object_agree():
    expr = parse("sigma(x + y)", aliases={"sigma": "sigmoid"})
    x, y = np.array([0.5, -3.0]), np.array([1.0, 30.0])
    np.testing.assert_array_equal(gradient(expr, "x", x=x, y=y), derivative("sigmoid(x)", x + y))


def test_matrix_gradient_matches_the_closed_form():
    # speed against the closed form is measured in benchmarks/numeric.py, never in a unit test
    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(100, 50)), rng.normal(size=(50, 20))
    t = np.exp(-np.abs(X @ W))
    np.testing.assert_allclose(gradient("sum(sigmoid(X @ W))", "X", X=X, W=W), (t / (1 + t) ** 2) @ W.T,
                               rtol=1e-13)


# --- property tests: random compositions ----------------------------------------------------

SMOOTH = {  # formula template, 40-digit counterpart
    "exp": ("exp({})", mpmath.exp), "sin": ("sin({})", mpmath.sin), "cos": ("cos({})", mpmath.cos),
    "tanh": ("tanh({})", mpmath.tanh), "sigmoid": ("sigmoid({})", mp_sigmoid),
    "softplus": ("softplus({})", lambda t: mpmath.log1p(mpmath.exp(t))),
    "square": ("square({})", lambda t: t * t), "neg": ("-{}", lambda t: -t),
    "log1": ("log(1 + square({}))", lambda t: mpmath.log(1 + t * t)),
    "sqrt1": ("sqrt(1 + square({}))", lambda t: mpmath.sqrt(1 + t * t)),
    "cube": ("({})**3", lambda t: t ** 3),
}
BINARY = {
    "+": ("({} + {})", lambda a, b: a + b), "-": ("({} - {})", lambda a, b: a - b),
    "*": ("({} * {})", lambda a, b: a * b), "/": ("({} / (1 + square({})))", lambda a, b: a / (1 + b * b)),
}


def _leaf():
    return st.one_of(st.just(("x", lambda t: t)),
                     st.sampled_from([0.5, 2.0, -1.5, 3.0]).map(lambda c: (repr(c), lambda t, c=c: mp(c))))


def _unary(child):
    return st.tuples(st.sampled_from(sorted(SMOOTH)), child).map(
        lambda p: (SMOOTH[p[0]][0].format(p[1][0]), lambda t, f=SMOOTH[p[0]][1], g=p[1][1]: f(g(t))))


def _binary(child):
    return st.tuples(st.sampled_from(sorted(BINARY)), child, child).map(
        lambda p: (BINARY[p[0]][0].format(p[1][0], p[2][0]),
                   lambda t, f=BINARY[p[0]][1], a=p[1][1], b=p[2][1]: f(a(t), b(t))))


compositions = st.recursive(_leaf(), lambda child: st.one_of(_unary(child), _binary(child)), max_leaves=6)
points = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


def _usable(formula: str, x: float) -> float:
    expr = parse(formula)
    assume("x" in expr.variables)
    value = expr.evaluate(x=x)
    grad = expr.gradient("x", x=x)
    assume(np.isfinite(value) and np.isfinite(grad) and abs(value) < 1e8 and abs(grad) < 1e8)
    return float(grad)


@settings(max_examples=150, deadline=None)
@given(compositions, points)
def test_random_compositions_match_complex_step(composition, x):
    formula, _ = composition
    got = _usable(formula, x)
    h = 1e-20
    step = float(np.imag(parse(formula).evaluate(x=x + 1j * h))) / h
    # both routes round the same forward values; they differ by a few ulps of the terms
    assert got == pytest.approx(step, rel=1e-11, abs=1e-11)


@settings(max_examples=80, deadline=None)
@given(compositions, points)
def test_random_compositions_match_high_precision_truth(composition, x):
    formula, mp_fn = composition
    got = _usable(formula, x)
    truth = mpmath.diff(mp_fn, mp(x))
    # relative 1e-13; near a zero of f' (where relative error is ill-conditioned) absolute 1e-13
    assert abs(got - float(truth)) <= 1e-13 * max(1.0, abs(float(truth)))


@settings(max_examples=60, deadline=None)
@given(compositions, points)
def test_random_compositions_match_finite_differences(composition, x):
    formula, _ = composition
    got = _usable(formula, x)
    f = parse(formula).as_callable()
    h = 1e-4 * max(1.0, abs(x))
    # a difference says nothing where f turns over within the step (cos(x**9) at x = 3)
    assume(abs(got) * h <= 1e-2 * max(1.0, abs(float(f(x)))))
    coarse, fine = ((f(x + s) - f(x - s)) / (2 * s) for s in (h, h / 2))
    # the fine difference is off by about (coarse - fine) / 3 from truncation, plus rounding
    assert abs(got - fine) <= abs(coarse - fine) + 1e-7 * max(1.0, abs(f(x)), abs(got))
    # and the callable route of the core (complex step through the same callable)
    assert float(derivative(f, x)) == pytest.approx(got, rel=1e-11, abs=1e-11)
