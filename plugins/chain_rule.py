"""Kind `chain_rule`: derivatives of nested functions, as a chain handed to the student or as the
pieces of one expansion (u(x), du/dx, df/du, df/dx)."""
from __future__ import annotations

import re

import numpy as np

from grader import hookimpl, numeric
from grader.exercise import Case
from grader.expr import parse
from grader.kinds import COMMON_KIND_KEYS, FormulaKind, array, definition_error, parse_formula

ROLES = ("inner", "inner_derivative", "outer_derivative", "derivative")


def compose(names: list[str]) -> str:
    """[f1, f2, f3] -> 'f3(f2(f1(x)))': the chain applied first to last."""
    text = "x"
    for name in names:
        text = f"{name}({text})"
    return text


class ChainRuleKind(FormulaKind):
    name = "chain_rule"
    multiple_entries = True
    description = "derivative of nested functions: a chain passed to the student, or u, du/dx, df/du, df/dx"
    keys = {
        "chain_arg": "the parameter that receives the list of functions [f1, f2, ...] (applied f1 first)",
        "point_arg": "the parameter that receives the points (default x)",
        "inner": "u(x), the inner function as a formula in x (expansion form)",
        "outer": "f(u), the outer function as a formula in the variable outer_var (expansion form)",
        "outer_var": "the outer function's variable (default u)",
        "roles": f"entry -> role, roles being {', '.join(ROLES)} (default: the entries in that order)",
        **COMMON_KIND_KEYS,
    }

    def default_args(self, exercise):
        spec = exercise.spec
        point = spec.get("point_arg", "x")
        return [spec["chain_arg"], point] if spec.get("chain_arg") else [point]

    def roles(self, exercise) -> dict[str, str]:
        return dict(exercise.spec.get("roles") or zip(exercise.entries, ROLES))

    def validate(self, exercise, functions):
        spec = exercise.spec
        if spec.get("chain_arg"):
            if "inner" in spec or "outer" in spec:
                raise definition_error(exercise, "chain_arg", "use either chain_arg or inner/outer, not both")
            if len(exercise.entries) != 1:
                raise definition_error(exercise, "entry", "a chain exercise has one entry function")
        else:
            for key in ("inner", "outer"):
                if key not in spec:
                    raise definition_error(exercise, key, "give chain_arg (a chain passed to the student) "
                                           "or both inner and outer formulas")
            outer_var = spec.get("outer_var", "u")
            if not parse_formula(exercise, "inner", spec["inner"], functions).variables <= {"x"}:
                raise definition_error(exercise, "inner", "the inner formula may only use x")
            if not parse_formula(exercise, "outer", spec["outer"], functions).variables <= {outer_var}:
                raise definition_error(exercise, "outer", f"the outer formula may only use {outer_var}")
            roles = self.roles(exercise)
            for entry, role in roles.items():
                if entry not in exercise.entries:
                    raise definition_error(exercise, "roles", f"'{entry}' is not one of the entries")
                if role not in ROLES:
                    raise definition_error(exercise, f"roles.{entry}", f"unknown role '{role}'; roles: {', '.join(ROLES)}")
        super().validate(exercise, functions)

    def build_cases(self, exercise, functions, rng):
        values_list = self.case_inputs(exercise, rng)
        self.check_function_values(exercise, functions, values_list)
        build = self._chain_cases if exercise.spec.get("chain_arg") else self._expansion_cases
        cases = [case for label, values, visibility in values_list
                 for case in build(exercise, functions, label, values, visibility)]
        self.check_references(exercise, cases)
        return cases

    def _chain_cases(self, exercise, functions, label, values, visibility):
        spec = exercise.spec
        chain = [str(f) for f in values[spec["chain_arg"]]]
        unknown = [f for f in chain if f not in functions]
        if unknown:
            raise definition_error(exercise, "cases", f"{label}: chain functions must be registered "
                                   f"function names; '{unknown[0]}' is not")
        x = array(values[spec.get("point_arg", "x")])
        expected = numeric.derivative(compose(chain), x)
        composed = compose(chain)
        alternatives = {f"the function {composed} itself instead of its derivative":
                        array(parse(composed, registry=functions).evaluate(x=x))}
        if len(chain) > 1:
            alternatives["the chain applied in the wrong order ({} first)".format(chain[-1])] = \
                numeric.derivative(compose(chain[::-1]), x)
            at_x = np.prod([numeric.derivative(f"{f}(x)", x) for f in chain], axis=0)
            alternatives["every derivative evaluated at x instead of at the inner function's value"] = at_x
            inner, factors = x, []
            for name in chain:
                factors.append(numeric.derivative(f"{name}(x)", inner))
                inner = parse(f"{name}(x)", registry=functions).evaluate(x=inner)
            for position, name in enumerate(chain):
                others = [f for i, f in enumerate(factors) if i != position]
                alternatives[f"the chain rule without the factor {name}'(...) of function "
                             f"{position + 1}"] = np.prod(others, axis=0)
        args = tuple(values[name] for name in self.args(exercise))
        yield Case(label=label, entry=exercise.entries[0], args=args, arg_names=tuple(self.args(exercise)),
                   expected=expected, tolerance=exercise.tolerance,
                   context={"alternatives": alternatives, "chain": chain}, visibility=visibility)

    def _expansion_cases(self, exercise, functions, label, values, visibility):
        spec = exercise.spec
        outer_var = spec.get("outer_var", "u")
        inner = parse(str(spec["inner"]), registry=functions)
        outer = parse(str(spec["outer"]), registry=functions)
        whole = parse(re.sub(rf"\b{re.escape(outer_var)}\b", f"({spec['inner']})", str(spec["outer"])),
                      registry=functions)
        point = spec.get("point_arg", "x")
        x = array(values[point])
        u = array(inner.evaluate(x=x))
        du_dx = numeric.derivative(inner, x)
        df_du = numeric.gradient(outer, outer_var, **{outer_var: u})
        df_dx = numeric.derivative(whole, x)
        answers = {
            "inner": (u, (x,), point, {}),
            "inner_derivative": (du_dx, (x,), point, {"alternatives": {
                "u(x) itself instead of its derivative": u}}),
            "outer_derivative": (df_du, (u,), outer_var, {"alternatives": {
                "f(u) itself instead of its derivative": array(outer.evaluate(**{outer_var: u}))}}),
            "derivative": (df_dx, (x,), point, {"alternatives": {
                "f(x) itself instead of its derivative": array(whole.evaluate(x=x)),
                "df/du alone: the inner factor du/dx of the chain rule is missing": df_du,
                "du/dx alone: the outer factor df/du of the chain rule is missing": du_dx,
                "df/du evaluated at x instead of at u(x), times du/dx":
                    numeric.gradient(outer, outer_var, **{outer_var: x}) * du_dx}}),
        }
        for entry, role in self.roles(exercise).items():
            expected, args, arg_name, context = answers[role]
            yield Case(label=f"{label}: {entry}", entry=entry, args=args, arg_names=(arg_name,),
                       expected=expected, tolerance=exercise.tolerance, context=context,
                       visibility=visibility)


@hookimpl
def grader_register_kinds(registry):
    registry.add(ChainRuleKind())
