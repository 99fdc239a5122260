"""The expression language of exercise files: a whitelisted `ast` grammar, numpy evaluation and
reverse-mode gradients with the registry's stable derivative rules. Nothing is `eval`'d.

Grammar: numbers, names bound to inputs, `+ - * / ** @`, unary `-`/`+`, `.T`, and calls of
registered functions with one positional argument. Everything else is refused at parse time.
"""
from __future__ import annotations

import ast
import math
import warnings
from functools import lru_cache
from typing import Callable, Iterable, Mapping

import numpy as np

from grader.errors import DefinitionError, did_you_mean
from grader.functions import REDUCTION, Function, FunctionRegistry, default_registry

MAX_LENGTH = 1000        # formulas are one line of mathematics; bounds parser time and memory
MAX_DEPTH = 100          # bounds recursion in the converter (a left-deep sum of 100 terms fits)
MAX_ELEMENTS = 10 ** 7   # no broadcast or matmul may build an array larger than this (80 MB)

# opcodes of the flat program an Expression compiles to (topologically ordered)
CONST, VAR, NEG, ADD, SUB, MUL, DIV, POW, MATMUL, TRANSPOSE, CALL = range(11)
_BINARY = {ast.Add: ADD, ast.Sub: SUB, ast.Mult: MUL, ast.Div: DIV, ast.Pow: POW,
           ast.MatMult: MATMUL}
_UFUNC = {ADD: np.add, SUB: np.subtract, MUL: np.multiply, DIV: np.divide, POW: np.power}
_REFUSED = {  # plain words for the constructs people actually try
    ast.Subscript: "subscripts", ast.Lambda: "lambdas", ast.Compare: "comparisons",
    ast.BoolOp: "boolean operators", ast.IfExp: "conditional expressions",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "comprehensions",
    ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts", ast.Set: "sets",
    ast.JoinedStr: "f-strings", ast.NamedExpr: "assignments", ast.Starred: "starred arguments",
    ast.Slice: "slices", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
}


class ExpressionError(DefinitionError):
    """A formula is malformed or cannot be evaluated on the given inputs; names formula and part."""

    def __init__(self, message: str, *, formula: str, part: str = "", file: str | None = None,
                 line: int | None = None, field: str | None = None) -> None:
        self.formula = formula
        self.part = part
        super().__init__(f"formula '{formula}': {message}", file=file, line=line, field=field)


class _Compiler:
    """Turns a Python `ast` into the flat program, refusing anything outside the grammar."""

    def __init__(self, text: str, aliases: Mapping[str, str], registry: FunctionRegistry,
                 variables: frozenset[str] | None) -> None:
        self.text, self.aliases, self.registry, self.allowed = text, aliases, registry, variables
        self.code: list[tuple] = []
        self.parts: list[str] = []
        self.var_index: dict[str, int] = {}
        self.functions: set[str] = set()

    def fail(self, message: str, node: ast.AST | None = None) -> ExpressionError:
        part = (ast.get_source_segment(self.text, node) or "") if node is not None else ""
        where = f" in '{part}'" if part and part != self.text else ""
        return ExpressionError(message + where, formula=self.text, part=part)

    def emit(self, instruction: tuple, node: ast.AST) -> int:
        self.code.append(instruction)
        self.parts.append(ast.get_source_segment(self.text, node) or "")
        return len(self.code) - 1

    def function(self, name: str, node: ast.AST) -> Function | None:
        target = self.aliases.get(name, name)
        if target in self.registry:
            return self.registry.get(target)
        if name in self.aliases:
            raise self.fail(f"alias '{name}' names '{target}', which is not a registered function", node)
        return None

    def compile(self, node: ast.AST, depth: int = 0) -> int:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                kind = "strings" if isinstance(value, (str, bytes)) else f"the constant {value!r}"
                raise self.fail(f"{kind} are not allowed, only real numbers", node)
            try:  # all arithmetic is float64: 10**10**10 becomes inf, never a huge Python int
                return self.emit((CONST, -1, -1, np.float64(value)), node)
            except OverflowError:
                raise self.fail("number too large for float64", node) from None
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.UAdd):
                return self.compile(node.operand, depth + 1)
            if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
                index = self.compile(node.operand, depth + 1)
                self.code[index] = (CONST, -1, -1, -self.code[index][3])
                self.parts[index] = ast.get_source_segment(self.text, node) or ""
                return index
            if isinstance(node.op, ast.USub):
                return self.emit((NEG, self.compile(node.operand, depth + 1), -1, None), node)
            raise self.fail(f"the operator '{_op_text(node.op)}' is not allowed "
                            "(only + - * / ** @ and unary minus)", node)
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise self.fail(f"the operator '{_op_text(node.op)}' is not allowed "
                                "(only + - * / ** @ and unary minus)", node)
            a = self.compile(node.left, depth + 1)
            return self.emit((op, a, self.compile(node.right, depth + 1), None), node)
        if isinstance(node, ast.Attribute):
            if node.attr != "T":
                raise self.fail(f"attribute access '.{node.attr}' is not allowed (only '.T')", node)
            return self.emit((TRANSPOSE, self.compile(node.value, depth + 1), -1, None), node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.fail(f"{_REFUSED.get(type(node), type(node).__name__)} are not allowed", node)

    def name(self, node: ast.Name) -> int:
        name = node.id
        if name.startswith("_"):
            raise self.fail(f"names starting with '_' are not allowed ('{name}')", node)
        if self.function(name, node) is not None:
            raise self.fail(f"function '{name}' must be called, e.g. '{name}(x)'", node)
        if self.allowed is not None and name not in self.allowed:
            known = ", ".join(sorted(self.allowed)) or "none"
            raise self.fail(f"unknown name '{name}'{did_you_mean(name, self.allowed | set(self.registry))}"
                            f"; inputs: {known}", node)
        if name not in self.var_index:
            self.var_index[name] = self.emit((VAR, -1, -1, name), node)
        return self.var_index[name]

    def call(self, node: ast.Call, depth: int) -> int:
        if not isinstance(node.func, ast.Name):
            self.compile(node.func, depth + 1)  # reports '.__class__', lambdas etc. by name first
            raise self.fail("only registered functions can be called, e.g. 'sigmoid(x)'", node.func)
        fn = self.function(node.func.id, node.func)
        if fn is None:
            names = set(self.registry) | set(self.aliases)
            if self.allowed is not None and node.func.id in self.allowed:
                raise self.fail(f"'{node.func.id}' is an input, not a function", node)
            raise self.fail(f"unknown function '{node.func.id}'{did_you_mean(node.func.id, names)}; "
                            f"known: {', '.join(sorted(names))}", node)
        if node.keywords:
            raise self.fail("keyword arguments are not allowed", node)
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self.fail("starred arguments are not allowed", node)
        if len(node.args) != 1:
            raise self.fail(f"'{node.func.id}' takes exactly 1 argument, got {len(node.args)}", node)
        self.functions.add(fn.name)
        return self.emit((CALL, self.compile(node.args[0], depth + 1), -1, fn), node)


def _op_text(op: ast.AST) -> str:
    return {ast.Not: "not", ast.Invert: "~", ast.Mod: "%", ast.FloorDiv: "//", ast.LShift: "<<",
            ast.RShift: ">>", ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&"}.get(type(op), "?")


def parse(text: str, *, aliases: Mapping[str, str] | None = None,
          registry: FunctionRegistry | None = None,
          variables: Iterable[str] | None = None) -> Expression:
    """Parse a formula into an `Expression` (cached: same arguments, same object).

    `aliases` maps call names to registered names (`{"sigma": "sigmoid"}`); `variables`, when
    given, is the set of allowed input names, so an unknown name is refused here already.
    """
    alias_key = tuple(sorted((aliases or {}).items()))
    var_key = None if variables is None else frozenset(variables)
    return _parse_cached(text, alias_key, registry or default_registry(), var_key)


@lru_cache(maxsize=2048)
def _parse_cached(text: str, alias_key: tuple, registry: FunctionRegistry,
                  variables: frozenset[str] | None) -> Expression:
    if not isinstance(text, str):
        raise ExpressionError(f"a formula must be a string, not {type(text).__name__}",
                              formula=repr(text))
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"longer than {MAX_LENGTH} characters", formula=text[:60] + "...")
    if not text.strip():
        raise ExpressionError("empty formula", formula=text)
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning for '2(x)': we refuse it ourselves
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = exc.offset or 0
        part = text.strip()[max(col - 1, 0):][:20]
        raise ExpressionError(f"syntax error ({exc.msg}) at column {col}: '{part}'",
                              formula=text, part=part) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise ExpressionError(f"cannot be parsed ({type(exc).__name__})", formula=text) from None
    compiler = _Compiler(text.strip(), dict(alias_key), registry, variables)
    root = compiler.compile(tree.body)
    return Expression(text, compiler, root)


def _as_value(name: str, value: object, formula: str, *, complex_ok: bool) -> np.ndarray:
    """A float64 copy of an input (complex128 where allowed); the caller's object is never used."""
    if complex_ok and np.iscomplexobj(value):
        return np.array(value, dtype=np.complex128)
    if np.iscomplexobj(value):
        raise ExpressionError(f"input '{name}' is complex; gradients need real inputs",
                              formula=formula, part=name)
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ExpressionError(f"input '{name}' is not numeric: {exc}", formula=formula,
                              part=name) from None


def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient over the axes broadcasting added, back to the operand's shape."""
    if g.shape == shape:
        return g
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


def _matmul_grad(a: np.ndarray, b: np.ndarray, g: np.ndarray, *, first: bool) -> np.ndarray:
    """dL/da (first) or dL/db for a @ b given g = dL/d(a @ b); 1-d operands as numpy treats them."""
    if a.ndim == 1 and b.ndim == 1:  # a dot product
        return g * b if first else g * a
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    g2 = np.expand_dims(g, -2) if a.ndim == 1 else g
    g2 = np.expand_dims(g2, -1) if b.ndim == 1 else g2
    if first:
        d = g2 @ np.swapaxes(b2, -1, -2)
        return _unbroadcast(d.reshape(d.shape[:-2] + a.shape) if a.ndim == 1 else d, a.shape)
    d = np.swapaxes(a2, -1, -2) @ g2
    return _unbroadcast(d.reshape(d.shape[:-2] + b.shape) if b.ndim == 1 else d, b.shape)


class Expression:
    """A parsed formula: evaluate it, differentiate it (reverse mode), or hand it out as a callable."""

    def __init__(self, text: str, compiled: _Compiler, root: int) -> None:
        self.text = text
        self._code = tuple(compiled.code)
        self._parts = tuple(compiled.parts)
        self._root = root
        self._vars = dict(compiled.var_index)
        self.variables = frozenset(compiled.var_index)
        self.functions = frozenset(compiled.functions)
        # per input: which instructions depend on it, so backward skips the rest (e.g. dL/dW)
        self._depends: dict[str, frozenset[int]] = {}
        for name, index in self._vars.items():
            hit = {index}
            for i, (op, a, b, _) in enumerate(self._code):
                if a in hit or b in hit:
                    hit.add(i)
            self._depends[name] = frozenset(hit)
        self._skip: dict[str, frozenset[int]] = {}

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def _fail(self, message: str, i: int) -> ExpressionError:
        part = self._parts[i]
        where = f" in '{part}'" if part and part != self.text.strip() else ""
        return ExpressionError(message + where, formula=self.text, part=part)

    def _inputs(self, values: Mapping[str, object], complex_ok: bool) -> dict[str, np.ndarray]:
        missing = sorted(self.variables - values.keys())
        extra = sorted(values.keys() - self.variables)
        if missing or extra:
            parts = ([f"missing input(s) {', '.join(missing)}"] if missing else []) + \
                    ([f"unexpected input(s) {', '.join(extra)}"] if extra else [])
            raise ExpressionError("; ".join(parts) + f" (the formula uses: "
                                  f"{', '.join(sorted(self.variables)) or 'no inputs'})",
                                  formula=self.text, part=", ".join(missing + extra))
        return {k: _as_value(k, v, self.text, complex_ok=complex_ok) for k, v in values.items()}

    def _shape_only(self, wrt: str) -> frozenset[int]:
        """Calls whose value a gradient wrt `wrt` never reads (only their shape), e.g. the
        sigmoid in sum(sigmoid(X @ W)): the backward sweep of sum needs just its argument's shape."""
        if wrt in self._skip:
            return self._skip[wrt]
        live, needed = self._depends[wrt], set()
        for i in range(self._root, -1, -1):
            op, a, b, p = self._code[i]
            if i in live:  # the operand values each backward rule reads
                if op == CALL and not p.linear:
                    needed.add(a)
                elif op in (MUL, MATMUL):
                    needed.update((b,) if a in live else ())
                    needed.update((a,) if b in live else ())
                elif op == DIV:
                    needed.update({b, i} if b in live else {b})
                elif op == POW:
                    needed.update({a, b, i})
            if op != CALL or i in needed:  # whatever is computed needs its operands' values
                needed.update(j for j in (a, b) if j >= 0)
        skip = frozenset(i for i, ins in enumerate(self._code) if ins[0] == CALL and i not in needed)
        self._skip[wrt] = skip
        return skip

    def _forward(self, env: dict[str, np.ndarray], skip: frozenset[int] = frozenset()) -> list:
        vals: list = [None] * len(self._code)
        for i, (op, a, b, p) in enumerate(self._code):
            if i in skip:  # a stand-in of the right shape; its contents are never read
                vals[i] = np.empty(() if p.kind == REDUCTION else np.shape(vals[a]))
            elif op == CONST:
                vals[i] = p
            elif op == VAR:
                vals[i] = env[p]
            elif op == CALL:
                vals[i] = p.value(vals[a])
            elif op == NEG:
                vals[i] = -vals[a]
            elif op == TRANSPOSE:
                vals[i] = np.transpose(vals[a])
            else:
                vals[i] = self._binary(i, op, vals[a], vals[b])
        return vals

    def _binary(self, i: int, op: int, x, y):
        sx, sy = np.shape(x), np.shape(y)
        if op == MATMUL:
            if not sx or not sy:
                raise self._fail(f"'@' needs arrays, got shapes {sx} and {sy}", i)
            inner = sy[0] if len(sy) == 1 else sy[-2]
            if sx[-1] != inner:
                raise self._fail(f"shapes {sx} and {sy} do not match for '@' "
                                 f"({sx[-1]} columns vs {inner} rows)", i)
            if math.prod(sx[:-1]) * (sy[-1] if len(sy) > 1 else 1) > MAX_ELEMENTS:
                raise self._fail(f"'@' of shapes {sx} and {sy} is larger than {MAX_ELEMENTS} elements", i)
            return np.matmul(x, y)
        if sx != sy and sx and sy:
            try:
                shape = np.broadcast_shapes(sx, sy)
            except ValueError:
                raise self._fail(f"shapes {sx} and {sy} cannot be combined elementwise", i) from None
            if math.prod(shape) > MAX_ELEMENTS:
                raise self._fail(f"broadcasting {sx} and {sy} is larger than {MAX_ELEMENTS} elements", i)
        return _UFUNC[op](x, y)

    def evaluate(self, **values) -> np.ndarray:
        """The formula's value on float64 copies of `values` (complex inputs stay complex)."""
        with np.errstate(all="ignore"):
            return np.asarray(self._forward(self._inputs(values, True))[self._root])

    def gradient(self, wrt: str, **values) -> np.ndarray:
        """d sum(formula) / d values[wrt], shaped like that input (reverse mode, float64)."""
        if wrt not in self.variables:
            raise ExpressionError(f"cannot differentiate with respect to '{wrt}': not an input "
                                  f"of the formula (inputs: {', '.join(sorted(self.variables)) or 'none'})",
                                  formula=self.text, part=wrt)
        env = self._inputs(values, False)
        with np.errstate(all="ignore"):
            vals = self._forward(env, self._shape_only(wrt))
            grad = self._backward(vals, self._depends[wrt])[self._vars[wrt]]
        return np.array(grad, dtype=np.float64).reshape(env[wrt].shape)

    def _backward(self, vals: list, live: frozenset[int]) -> list:
        """Reverse sweep; only operands in `live` (those depending on the input) get gradients."""
        grads: list = [None] * len(self._code)
        grads[self._root] = np.ones(np.shape(vals[self._root]))

        def add(j: int, g) -> None:
            g = _unbroadcast(np.asarray(g), np.shape(vals[j]))
            grads[j] = g if grads[j] is None else grads[j] + g

        for i in range(self._root, -1, -1):
            g = grads[i]
            if g is None:
                continue
            op, a, b, p = self._code[i]
            da, db = a in live, b in live
            if op == CALL:  # elementwise: g * f'(x); reduction: g (0-d) * grad f(x)
                add(a, g * p.derivative(vals[a]))
            elif op == NEG:
                add(a, -g)
            elif op == TRANSPOSE:
                add(a, np.transpose(g))
            elif op == ADD or op == SUB:
                if da:
                    add(a, g)
                if db:
                    add(b, g if op == ADD else -g)
            elif op == MUL:
                if da:
                    add(a, g * vals[b])
                if db:
                    add(b, g * vals[a])
            elif op == DIV:
                if da:
                    add(a, g / vals[b])
                if db:
                    add(b, -g * vals[i] / vals[b])
            elif op == POW:
                if da:
                    add(a, g * self._pow_base_derivative(vals[a], vals[b], self._code[b][0] == CONST))
                if db:
                    out = vals[i]  # d x**y / dy = x**y log x, taken as 0 where x**y = 0
                    add(b, g * np.where(out == 0, 0.0, out * np.log(np.where(out == 0, 1.0, vals[a]))))
            elif op == MATMUL:
                x, y = np.asarray(vals[a]), np.asarray(vals[b])
                if da:
                    add(a, _matmul_grad(x, y, g, first=True))
                if db:
                    add(b, _matmul_grad(x, y, g, first=False))
        return grads

    @staticmethod
    def _pow_base_derivative(x, y, constant: bool):
        if constant:  # x**n: avoid 0 * x**-1 = nan at x = 0 for n in {0, 1}
            n = float(y)
            return 0.0 if n == 0 else 1.0 if n == 1 else 2.0 * x if n == 2 else n * x ** (n - 1)
        return y * x ** (y - 1)

    def as_callable(self, var: str = "x") -> Callable:
        """A plain numpy function of one array (a float in gives a float out), e.g. for students."""
        extra = self.variables - {var}
        if extra:
            raise ExpressionError(f"as a function of '{var}' it has other inputs: "
                                  f"{', '.join(sorted(extra))}", formula=self.text,
                                  part=", ".join(sorted(extra)))
        expression = self

        def formula_function(x):
            if var in expression.variables:
                return expression.evaluate(**{var: x})[()]
            value = expression.evaluate()  # a constant formula still maps arrays to arrays
            return np.broadcast_to(value, np.shape(x)).copy()[()]

        formula_function.__name__ = formula_function.__qualname__ = var + "_formula"
        formula_function.__doc__ = f"{self.text} as a function of {var}"
        return formula_function
