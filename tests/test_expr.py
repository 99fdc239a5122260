"""Tests for grader/expr.py: the whitelisted grammar, evaluation, reverse-mode gradients."""
from __future__ import annotations

import builtins
import time

import numpy as np
import pytest

from grader.errors import DefinitionError
from grader.expr import MAX_DEPTH, MAX_LENGTH, Expression, ExpressionError, parse
from grader.functions import builtin_registry


def central(f, x, h=1e-6):
    """Plain central difference of sum(f) per element: a loose independent cross-check."""
    x = np.array(x, dtype=float)
    out = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        out[k] = (np.sum(f(up)) - np.sum(f(down))) / (2 * h)
    return out


# --- parsing --------------------------------------------------------------------------------

def test_parse_reports_inputs_and_functions():
    expr = parse("sum(sigmoid(X @ W)) + mean(tanh(X @ W))")
    assert isinstance(expr, Expression)
    assert expr.variables == {"X", "W"}
    assert expr.functions == {"sum", "sigmoid", "mean", "tanh"}
    assert expr.text == "sum(sigmoid(X @ W)) + mean(tanh(X @ W))"


def test_parse_is_cached_per_text_and_aliases():
    assert parse("(x**2 + 1)**3") is parse("(x**2 + 1)**3")
    aliased = parse("sigma(x + y)", aliases={"sigma": "sigmoid"})
    assert aliased is parse("sigma(x + y)", aliases={"sigma": "sigmoid"})
    assert aliased is not parse("sigma(x + y)", aliases={"sigma": "tanh"})


def test_aliases_bind_a_function_parameter():
    expr = parse("sigma(x + y)", aliases={"sigma": "sigmoid"})
    assert expr.functions == {"sigmoid"} and expr.variables == {"x", "y"}
    assert float(expr.evaluate(x=0.5, y=-0.5)) == 0.5
    other = parse("sigma(x + y)", aliases={"sigma": "square"})
    assert float(other.evaluate(x=1.0, y=2.0)) == 9.0
    assert float(other.gradient("y", x=1.0, y=2.0)) == 6.0


def test_alias_to_an_unregistered_function_is_refused():
    with pytest.raises(ExpressionError, match="alias 'sigma' names 'sigmud'"):
        parse("sigma(x)", aliases={"sigma": "sigmud"})


def test_known_variables_are_checked_at_parse_time():
    with pytest.raises(ExpressionError, match=r"unknown name 'Xx' \(did you mean 'X'\?\); inputs: W, X"):
        parse("sum(Xx @ W)", variables=["X", "W"])
    assert parse("sum(X @ W)", variables=["X", "W"]).variables == {"X", "W"}


BAD_FORMULAS = [
    # (formula, fragment of the message, the offending part named)
    ("__import__('os').system('touch /tmp/x')", "attribute access '.system'", "__import__('os').system"),
    ("__import__('os')", "unknown function '__import__'", "__import__('os')"),
    ("x.__class__", "attribute access '.__class__' is not allowed (only '.T')", "x.__class__"),
    ("x.T.__class__.__base__", "attribute access '.__base__'", "x.T.__class__.__base__"),
    ("x.shape", "attribute access '.shape'", "x.shape"),
    ("sigmoid(x).real", "attribute access '.real'", "sigmoid(x).real"),
    ("_x + 1", "names starting with '_'", "_x"),
    ("x[0]", "subscripts are not allowed", "x[0]"),
    ("x[::-1]", "subscripts are not allowed", "x[::-1]"),
    ("(lambda: 1)()", "lambdas are not allowed", "lambda: 1"),
    ("lambda x: x", "lambdas are not allowed", "lambda x: x"),
    ("'abc'", "strings are not allowed", "'abc'"),
    ("x + 'a'", "strings are not allowed", "'a'"),
    ("b'x'", "strings are not allowed", "b'x'"),
    ("f'{x}'", "f-strings are not allowed", "f'{x}'"),
    ("[i for i in x]", "comprehensions are not allowed", "[i for i in x]"),
    ("sum(i for i in x)", "comprehensions are not allowed", "(i for i in x)"),
    ("[x, y]", "lists are not allowed", "[x, y]"),
    ("(x, y)", "tuples are not allowed", "(x, y)"),
    ("{x: 1}", "dicts are not allowed", "{x: 1}"),
    ("x(2)", "unknown function 'x'", "x(2)"),
    ("(x + 1)(2)", "only registered functions can be called", "x + 1"),
    ("sigmoid(x)(2)", "only registered functions can be called", "sigmoid(x)"),
    ("print(x)", "unknown function 'print'", "print(x)"),
    ("sigmod(x)", "unknown function 'sigmod' (did you mean 'sigmoid'?)", "sigmod(x)"),
    ("eval('1')", "unknown function 'eval'", "eval('1')"),
    ("sigmoid(x, y)", "'sigmoid' takes exactly 1 argument, got 2", "sigmoid(x, y)"),
    ("sigmoid()", "'sigmoid' takes exactly 1 argument, got 0", "sigmoid()"),
    ("sigmoid(x=1)", "keyword arguments are not allowed", "sigmoid(x=1)"),
    ("sigmoid(*x)", "starred arguments are not allowed", "sigmoid(*x)"),
    ("exp + 1", "function 'exp' must be called", "exp"),
    ("x +", "syntax error", ""),
    ("sigmoid(x", "syntax error", ""),
    ("x = 1", "syntax error", ""),
    ("import os", "syntax error", ""),
    ("x < 1", "comparisons are not allowed", "x < 1"),
    ("x and y", "boolean operators are not allowed", "x and y"),
    ("not x", "the operator 'not' is not allowed", "not x"),
    ("~x", "the operator '~' is not allowed", "~x"),
    ("x % 2", "the operator '%' is not allowed", "x % 2"),
    ("x // 2", "the operator '//' is not allowed", "x // 2"),
    ("x if x else 1", "conditional expressions are not allowed", "x if x else 1"),
    ("(y := 2)", "assignments are not allowed", "y := 2"),
    ("True + x", "the constant True are not allowed", "True"),
    ("None", "the constant None are not allowed", "None"),
    ("2j * x", "the constant 2j are not allowed", "2j"),
    ("...", "the constant Ellipsis are not allowed", "..."),
    ("", "empty formula", ""),
    ("1" * 400 + " * x", "number too large for float64", "1" * 400),
]


@pytest.mark.parametrize("formula, fragment, part", BAD_FORMULAS,
                         ids=[f"{i}:{b[0][:30]}" for i, b in enumerate(BAD_FORMULAS)])
def test_bad_formulas_are_refused_naming_formula_and_part(formula, fragment, part):
    with pytest.raises(ExpressionError) as info:
        parse(formula)
    err = info.value
    assert isinstance(err, DefinitionError)
    assert err.formula == formula
    assert fragment in str(err)
    assert f"formula '{formula}'" in str(err)
    if part:
        assert err.part == part


def test_refused_formula_executes_nothing(tmp_path, monkeypatch):
    target = tmp_path / "pwned"
    calls = []
    for name in ("eval", "exec", "__import__"):  # compile stays: ast.parse is built on it
        real = getattr(builtins, name)
        monkeypatch.setattr(builtins, name, lambda *a, _real=real, _n=name, **k: (calls.append(_n), _real(*a, **k))[1])
    for formula in (f"__import__('os').system('touch {target}')",
                    f"exp(__import__('os').system('touch {target}'))",
                    f"x.__class__.__init__.__globals__['os'].system('touch {target}')",
                    f"[__import__('os').system('touch {target}') for _ in 'a']"):
        with pytest.raises(ExpressionError):
            parse(formula)
    monkeypatch.undo()
    assert not target.exists()
    assert calls == []


def test_good_formulas_never_use_eval_or_exec(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec called")
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    expr = parse("sum(sigmoid(X @ W.T)) - -x ** 2 / +3", registry=builtin_registry())
    value = expr.evaluate(X=np.ones((2, 3)), W=np.ones((4, 3)), x=3.0)
    assert float(value) == pytest.approx(8 / (1 + np.exp(-3.0)) + 3.0)


def test_attribute_access_is_refused_before_any_input_is_touched():
    class Spy:
        touched = False

        def __getattr__(self, name):
            Spy.touched = True
            raise AttributeError(name)

    with pytest.raises(ExpressionError):
        parse("x.__class__").evaluate(x=Spy())
    assert not Spy.touched


def test_resource_abuse_is_bounded():
    start = time.perf_counter()
    assert np.isinf(parse("10**10**10").evaluate())  # float64 arithmetic: no giant integers
    assert np.isinf(parse("x ** 10**10**10").evaluate(x=2.0))
    assert time.perf_counter() - start < 0.5
    with pytest.raises(ExpressionError, match=f"longer than {MAX_LENGTH} characters"):
        parse("x" + " + x" * MAX_LENGTH)
    with pytest.raises(ExpressionError, match=f"nested more than {MAX_DEPTH} levels"):
        parse("-" * (MAX_DEPTH + 5) + "x")
    with pytest.raises(ExpressionError, match=f"nested more than {MAX_DEPTH} levels"):
        parse("exp(" * (MAX_DEPTH + 5) + "x" + ")" * (MAX_DEPTH + 5))
    with pytest.raises(ExpressionError):  # Python's own parser limit, reported as ours
        parse("(" * 300 + "x" + ")" * 300)
    with pytest.raises(ExpressionError, match="larger than"):
        parse("x + x.T").evaluate(x=np.zeros((5000, 1)))  # a 25e6-element broadcast
    with pytest.raises(ExpressionError, match="larger than"):
        parse("x @ x.T").evaluate(x=np.zeros((5000, 1)))
    with pytest.raises(ExpressionError, match="null bytes"):
        parse("x\0")


def test_a_long_but_reasonable_formula_is_fine():
    expr = parse(" + ".join(["x"] * 90))
    assert float(expr.gradient("x", x=1.0)) == 90.0


# --- evaluation -----------------------------------------------------------------------------

@pytest.mark.parametrize("formula, values, expected", [
    ("(x**2 + 1)**3", {"x": 2.0}, 125.0),
    ("x - 2 * y / 4", {"x": 1.0, "y": 3.0}, -0.5),
    ("-x ** 2", {"x": 3.0}, -9.0),  # Python precedence: -(x**2)
    ("+x", {"x": 3.0}, 3.0),
    ("x ** -1", {"x": 4.0}, 0.25),
    ("2 ** x", {"x": 10}, 1024.0),
    ("leaky_relu(x)", {"x": -1.0}, -0.2),
    ("softplus(x)", {"x": -800.0}, 0.0),
    ("sigmoid(x)", {"x": -800.0}, 0.0),
    ("sum(x.T @ x)", {"x": [[1.0, 2.0]]}, 9.0),
    ("mean(abs(x))", {"x": [-1, 2, -3]}, 2.0),
])
def test_evaluate(formula, values, expected):
    assert float(parse(formula).evaluate(**values)) == pytest.approx(expected, rel=1e-15, abs=1e-300)


def test_evaluate_works_on_float64_copies():
    x = np.array([1.0, -2.0], dtype=np.float32)
    out = parse("x").evaluate(x=x)
    assert out is not x and out.dtype == np.float64
    out[0] = 99.0
    assert x[0] == 1.0
    matrix = parse("X @ W").evaluate(X=[[1, 2]], W=[[3], [4]])
    assert matrix.shape == (1, 1) and matrix.dtype == np.float64 and matrix[0, 0] == 11.0
    assert parse("sum(x)").evaluate(x=[1, 2]).shape == ()


def test_missing_and_extra_inputs_are_named():
    expr = parse("sigmoid(x + y)")
    with pytest.raises(ExpressionError, match=r"missing input\(s\) y; unexpected input\(s\) z") as info:
        expr.evaluate(x=1.0, z=2.0)
    assert info.value.part == "y, z"
    with pytest.raises(ExpressionError, match=r"missing input\(s\) x"):
        expr.gradient("y", y=1.0)
    with pytest.raises(ExpressionError, match="cannot differentiate with respect to 'w'"):
        expr.gradient("w", x=1.0, y=1.0)
    with pytest.raises(ExpressionError, match="input 'x' is not numeric"):
        expr.evaluate(x="one", y=1.0)


def test_shape_errors_name_the_shapes_and_part():
    with pytest.raises(ExpressionError, match=r"shapes \(3, 4\) and \(3, 2\) do not match for '@'") as info:
        parse("sum(sigmoid(X @ W))").evaluate(X=np.ones((3, 4)), W=np.ones((3, 2)))
    assert info.value.part == "X @ W"
    with pytest.raises(ExpressionError, match=r"shapes \(3,\) and \(2,\) cannot be combined"):
        parse("x + y").gradient("x", x=np.ones(3), y=np.ones(2))
    with pytest.raises(ExpressionError, match="'@' needs arrays"):
        parse("x @ y").evaluate(x=2.0, y=np.ones(2))


def test_complex_inputs_evaluate_but_gradients_need_real_ones():
    h = 1e-20
    value = parse("sigmoid(x) * x").evaluate(x=1.0 + 1j * h)
    assert np.imag(value) / h == pytest.approx(float(parse("sigmoid(x) * x").gradient("x", x=1.0)), rel=1e-14)
    with pytest.raises(ExpressionError, match="complex"):
        parse("x").gradient("x", x=1j)


# --- gradients ------------------------------------------------------------------------------

def test_gradient_is_shaped_like_the_input_and_fresh():
    x = np.array([[0.5, -1.0, 2.0]])
    g = parse("square(x)").gradient("x", x=x)
    assert g.shape == (1, 3) and g.dtype == np.float64
    np.testing.assert_array_equal(g, 2 * x)
    assert parse("x").gradient("x", x=3.0).shape == ()
    assert parse("sum(x)").gradient("x", x=[[1.0, 2.0]]).tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("formula, values, wrt", [
    ("x * y", {"x": [1.0, 2.0, 3.0], "y": 2.5}, "y"),            # broadcast: dy sums
    ("x * y", {"x": [1.0, 2.0, 3.0], "y": 2.5}, "x"),
    ("x / y", {"x": [1.0, -2.0], "y": [[0.5], [3.0]]}, "y"),     # (2,1) against (2,)
    ("x / y", {"x": [1.0, -2.0], "y": [[0.5], [3.0]]}, "x"),
    ("x ** y", {"x": [0.5, 2.0], "y": [1.5, -0.5]}, "y"),
    ("x ** y", {"x": [0.5, 2.0], "y": [1.5, -0.5]}, "x"),
    ("x - y.T", {"x": [[1.0, 2.0]], "y": [[3.0, 4.0]]}, "y"),
    ("x @ y", {"x": [1.0, 2.0], "y": [[1.0, 2.0, 0.5], [3.0, -1.0, 2.0]]}, "x"),  # 1-d @ 2-d
    ("x @ y", {"x": [1.0, 2.0], "y": [[1.0, 2.0, 0.5], [3.0, -1.0, 2.0]]}, "y"),
    ("y @ x", {"x": [1.0, 2.0, 0.5], "y": [[1.0, 2.0, 0.5], [3.0, -1.0, 2.0]]}, "x"),  # 2-d @ 1-d
    ("x @ y", {"x": [1.0, 2.0], "y": [3.0, -1.0]}, "y"),          # 1-d @ 1-d
    ("mean(tanh(x @ y) * x @ y)", {"x": [[0.3, -0.2], [0.1, 0.4]], "y": [[1.0], [2.0]]}, "x"),
    ("sum(x * x.T)", {"x": [[1.0, 2.0], [3.0, 4.0]]}, "x"),
    ("sigmoid(x) * sigmoid(x) + x / (1 + square(x))", {"x": [-2.0, 0.1, 3.0]}, "x"),
])
def test_gradients_match_central_differences(formula, values, wrt):
    expr = parse(formula)
    others = {k: v for k, v in values.items() if k != wrt}
    got = expr.gradient(wrt, **values)
    want = central(lambda v: expr.evaluate(**others, **{wrt: v}), values[wrt])
    assert got.shape == np.shape(values[wrt])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-8)


def test_power_rules_at_zero():
    assert float(parse("x ** 1").gradient("x", x=0.0)) == 1.0
    assert float(parse("x ** 0").gradient("x", x=0.0)) == 0.0
    assert float(parse("x ** 3").gradient("x", x=0.0)) == 0.0
    assert float(parse("x ** y").gradient("y", x=0.0, y=2.0)) == 0.0  # 0**y log 0 taken as 0


def test_gradient_does_not_depend_on_the_other_inputs_derivatives():
    # W's path is skipped, yet dL/dX is unchanged: compare against the formula with W constant
    X, W = np.array([[0.2, -0.4]]), np.array([[1.5], [0.5]])
    g = parse("sum(sigmoid(X @ W)) + sum(W * W)").gradient("X", X=X, W=W)
    z = (X @ W).item()
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(g, s * (1 - s) * W.T, rtol=1e-15)


def test_as_callable_hands_out_a_plain_function():
    cube = parse("x**3").as_callable()
    assert isinstance(cube(2.0), float) and cube(2.0) == 8.0
    np.testing.assert_array_equal(cube(np.array([1.0, -2.0])), [1.0, -8.0])
    np.testing.assert_array_equal(parse("3").as_callable()(np.zeros(2)), [3.0, 3.0])
    assert parse("sigmoid(t)").as_callable("t")(0.0) == 0.5
    with pytest.raises(ExpressionError, match="other inputs: y"):
        parse("x + y").as_callable("x")
