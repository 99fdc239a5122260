"""`grader show ID`: prompt, signature, a readable example call and its answer."""
from __future__ import annotations

import numpy as np

from conftest import run_cli
from grader.show import readable
from grader.transport import FunctionRef


def test_show_prints_prompt_signature_and_a_readable_example():
    done = run_cli("show", "numeric-derivative")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "central difference" in out                       # the prompt
    assert "    def deriv(func, input_): ..." in out          # the signature
    # a function by its name, arrays as np.array literals, the answer of the example
    assert "    deriv(func=square, input_=np.array([-3., -2., -1.,  0.,  1.,  2.,  3.]))\n" \
           "    -> np.array([-6., -4., -2.,  0.,  2.,  4.,  6.])" in out
    assert "2 hint(s) are shown when a check fails." in out
    assert "Divide by 2 * delta" not in out                   # hints are not given away


def test_show_gives_one_example_per_entry_and_tuples_for_partials():
    out = run_cli("show", "chain-rule-expansion").stdout
    for entry in ("u", "du_dx", "df_du", "df_dx"):
        assert f"Example for {entry}:" in out
    assert "np.array([-300.,  -24.,    0.,   24.,  300.])" in out   # df/dx at -2..2
    out = run_cli("show", "partial-add").stdout
    assert "sigma=sigmoid)" in out and "\n    -> (np.array([0.1966," in out


def test_show_lays_matrices_out_one_argument_per_line():
    out = run_cli("show", "matrix-sum-backward").stdout
    assert "    matrix_function_backward_sum_1(\n        X=np.array([[ 0.5, -1. ,  2. ],\n" in out
    assert "        sigma=sigmoid,\n    )\n    -> np.array([[0.1726, 0.1246, 0.0612],\n" in out


def test_readable_values():
    assert readable(FunctionRef("sigmoid")) == "sigmoid"
    assert readable(FunctionRef("x**3")) == "lambda x: x**3"
    assert readable([FunctionRef("square"), FunctionRef("tanh")]) == "[square, tanh]"
    assert readable(np.float64(0.25)) == "0.25"
    assert readable(np.zeros(100)) == "<array of shape (100,)>"


def test_show_unknown_id_suggests_the_right_one():
    done = run_cli("show", "sigmoid-derivativ")
    assert done.returncode == 2 and "did you mean 'sigmoid-derivative'" in done.stderr
