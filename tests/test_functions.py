"""Tests for grader/functions.py and the built-in functions of plugins/functions.py."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pluggy
import pytest

from grader import hookimpl, hookspecs
from grader.errors import GraderError, PluginError
from grader.expr import parse
from grader.functions import Function, FunctionRegistry, builtin_registry
from grader_plugins import functions as builtin

mpmath.mp.dps = 40

BUILTIN_NAMES = ["abs", "cos", "exp", "leaky_relu", "log", "mean", "relu", "sigmoid", "sin",
                 "softplus", "sqrt", "square", "sum", "tanh"]

# high-precision definitions: the truth the float64 rules are held to
MP = {
    "exp": mpmath.exp, "log": mpmath.log, "sqrt": mpmath.sqrt, "sin": mpmath.sin,
    "cos": mpmath.cos, "tanh": mpmath.tanh, "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
    "relu": lambda x: x if x > 0 else 0 * x, "leaky_relu": lambda x: x if x > 0 else x / 5,
    "softplus": lambda x: mpmath.log1p(mpmath.exp(x)), "abs": abs, "square": lambda x: x * x,
}
# derivatives written out in 40 digits, where 1 - sigmoid or 1 - tanh**2 cannot cancel
MP_PRIME = {
    "exp": mpmath.exp, "log": lambda x: 1 / x, "sqrt": lambda x: 1 / (2 * mpmath.sqrt(x)),
    "sin": mpmath.cos, "cos": lambda x: -mpmath.sin(x), "tanh": lambda x: mpmath.sech(x) ** 2,
    "sigmoid": lambda x: mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2,
    "relu": lambda x: mpmath.mpf(x > 0), "leaky_relu": lambda x: 1 if x > 0 else mpmath.mpf(0.2),
    "softplus": lambda x: 1 / (1 + mpmath.exp(-x)), "abs": mpmath.sign, "square": lambda x: 2 * x,
}
# regular points plus the ones where naive formulas break (saturation, near 0, large arguments)
POINTS = {
    "exp": [-30.0, -1.0, 0.0, 0.5, 20.0, 700.0], "log": [1e-300, 1e-3, 0.5, 1.0 + 2 ** -40, 1e300],
    "sqrt": [1e-300, 1e-3, 2.0, 1e300], "sin": [-3.0, 1e-8, 1.0, 100.0, 1e5],
    "cos": [-3.0, 1e-8, 1.0, 100.0, 1e5], "tanh": [-20.0, -1.0, 1e-9, 0.7, 20.0, 300.0],
    "sigmoid": [-700.0, -30.0, -1.0, 0.0, 2.0, 30.0, 700.0],
    "relu": [-5.0, -1e-3, 1e-3, 7.0], "leaky_relu": [-5.0, -1e-3, 1e-3, 7.0],
    "softplus": [-700.0, -25.0, -1.0, 0.0, 3.0, 25.0, 700.0], "abs": [-4.0, -1e-9, 1e-9, 3.0],
    "square": [-1e100, -3.0, 1e-4, 2.5],
}


def rel_error(got: float, truth) -> float:
    truth = mpmath.mpf(truth)
    if truth == 0:
        return abs(got)
    return float(abs((mpmath.mpf(got) - truth) / truth))


def test_builtin_registry_holds_every_course_function_sorted():
    assert list(builtin_registry()) == BUILTIN_NAMES
    assert "sigmoid" in builtin_registry() and "gelu" not in builtin_registry()


@pytest.mark.parametrize("name", sorted(MP))
def test_value_matches_high_precision(name):
    fn = builtin_registry().get(name)
    for x in POINTS[name]:
        got = float(fn.value(np.array(x)))
        assert rel_error(got, MP[name](mpmath.mpf(x))) <= 1e-15, (name, x, got)


@pytest.mark.parametrize("name", sorted(MP))
def test_derivative_rule_matches_high_precision(name):
    fn = builtin_registry().get(name)
    for x in POINTS[name]:
        got = float(fn.derivative(np.array(x)))
        truth = MP_PRIME[name](mpmath.mpf(x))
        assert rel_error(got, truth) <= 1e-13, (name, x, got, truth)


@pytest.mark.parametrize("name", sorted(MP))
def test_high_precision_derivatives_agree_with_mpmath_diff(name):
    # guards the table above against a typo: numerical differentiation in 40 digits
    for x in [-1.3, 0.4, 2.2]:
        x = abs(x) if name in ("log", "sqrt") else x
        assert rel_error(float(MP_PRIME[name](mpmath.mpf(x))), mpmath.diff(MP[name], mpmath.mpf(x))) < 1e-15


def test_reductions_value_and_gradient():
    data = np.arange(6.0).reshape(2, 3)
    reg = builtin_registry()
    assert float(reg.get("sum").value(data)) == 15.0
    assert float(reg.get("mean").value(data)) == 2.5
    np.testing.assert_array_equal(reg.get("sum").derivative(data), np.ones((2, 3)))
    np.testing.assert_array_equal(reg.get("mean").derivative(data), np.full((2, 3), 1 / 6))
    assert reg.get("sum").kind == "reduction" and reg.get("sigmoid").kind == "elementwise"


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "relu", "leaky_relu", "abs", "exp"])
def test_values_accept_complex_for_complex_step(name):
    fn = builtin_registry().get(name)
    for x in [-3.0, -0.5, 0.7, 4.0]:
        h = 1e-20
        assert np.imag(fn.value(np.array(x + 1j * h))) / h == pytest.approx(
            float(fn.derivative(np.array(x))), rel=1e-14)


def test_callable_is_a_plain_function_on_floats_lists_and_arrays():
    reg = builtin_registry()
    sigmoid = reg.callable("sigmoid")
    assert sigmoid.__name__ == "sigmoid"
    out = sigmoid(0.0)
    assert isinstance(out, float) and out == 0.5
    assert isinstance(sigmoid(3), float)
    arr = np.array([[-1.0, 0.0], [1.0, 30.0]], dtype=np.float32)
    before = arr.copy()
    res = sigmoid(arr)
    assert isinstance(res, np.ndarray) and res.dtype == np.float64 and res.shape == (2, 2)
    np.testing.assert_array_equal(arr, before)  # the caller's array is not touched
    assert res[1, 1] == pytest.approx(1 / (1 + math.exp(-30.0)), rel=1e-16)
    np.testing.assert_array_equal(reg.callable("leaky_relu")([-1.0, 2.0]), [-0.2, 2.0])
    np.testing.assert_array_equal(reg.callable("relu")(np.array([-1.0, 2.0])), [0.0, 2.0])
    assert reg.callable("abs")(-2.5) == 2.5
    assert reg.callable("square")(np.float32(3)) == 9.0
    assert reg.callable("sum")([[1, 2], [3, 4]]) == 10.0
    assert reg.callable("sigmoid") is sigmoid  # built once per name


def test_student_callable_handles_the_course_central_difference():
    # deriv(func, input_, delta) from the course must work with the callables handed out
    square = builtin_registry().callable("square")
    x = np.array([-1.0, 0.5, 3.0])
    approx = (square(x + 0.001) - square(x - 0.001)) / 0.002
    np.testing.assert_allclose(approx, 2 * x, rtol=1e-9)


def test_describe_names_kind_plugin_and_doc():
    line = builtin_registry().describe("leaky_relu")
    assert line.startswith("leaky_relu (elementwise, from plugin 'functions')")
    assert "0.2" in line and "\n" not in line


def test_unknown_function_suggests_the_closest_name():
    with pytest.raises(GraderError, match=r"unknown function 'sigmod' \(did you mean 'sigmoid'\?\)"):
        builtin_registry().get("sigmod")


def test_duplicate_name_names_both_plugins():
    reg = FunctionRegistry()
    reg.current_plugin = "functions"
    builtin.grader_register_functions(registry=reg)
    reg.current_plugin = "my-activations"
    with pytest.raises(PluginError) as info:
        reg.add(Function("sigmoid", "again", np.tanh, np.cosh))
    assert "my-activations" in str(info.value) and "'functions'" in str(info.value)
    assert reg.get("sigmoid").value is not np.tanh  # the first registration stays


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(name="bad name"), "identifier"), (dict(name="_private"), "identifier"),
    (dict(kind="vector"), "kind must be"), (dict(value=3.0), "callables"),
])
def test_invalid_function_definitions_are_refused(kwargs, fragment):
    spec = dict(name="f", doc="d", value=np.exp, derivative=np.exp) | kwargs
    with pytest.raises(PluginError, match=fragment):
        Function(**spec)


def test_registry_refuses_non_function_objects():
    reg = FunctionRegistry()
    reg.current_plugin = "broken"
    with pytest.raises(PluginError, match="broken"):
        reg.add(np.exp)


def _gelu_plugin():
    """The README's example: a third-party plugin adding gelu (tanh approximation)."""
    c = math.sqrt(2 / math.pi)

    class GeluPlugin:
        @staticmethod
        @hookimpl
        def grader_register_functions(registry):
            def value(x):
                return 0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x ** 3)))

            def derivative(x):
                u = c * (x + 0.044715 * x ** 3)
                t = np.tanh(u)
                return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x ** 2)

            registry.add(Function("gelu", "x * Phi(x), tanh approximation", value, derivative))

    return GeluPlugin


def test_a_plugin_adds_a_function_through_the_hook():
    pm = pluggy.PluginManager("grader")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name="functions")
    pm.register(_gelu_plugin(), name="gelu")
    reg = FunctionRegistry()
    pm.hook.grader_register_functions(registry=reg)
    assert "gelu" in reg and "sigmoid" in reg
    expr = parse("sum(gelu(x) * sigmoid(x))", registry=reg)
    assert expr.functions == {"gelu", "sigmoid", "sum"}
    x = np.array([-2.0, 0.3, 1.7])
    c = mpmath.sqrt(2 / mpmath.pi)

    def truth(t):
        return 0.5 * t * (1 + mpmath.tanh(c * (t + mpmath.mpf(0.044715) * t ** 3))) / (1 + mpmath.exp(-t))
    got = expr.gradient("x", x=x)
    for xi, gi in zip(x, got):
        assert rel_error(gi, mpmath.diff(truth, mpmath.mpf(xi))) <= 1e-13
    assert reg.callable("gelu")(0.0) == 0.0
