"""Evaluating expression trees."""

import math

from calc.parser import BinOp, Call, Neg, Num, Var, parse
from calc.tokens import CalcError


def _round(value, digits=0):
    """Round half away from zero (not Python's banker's rounding)."""
    factor = 10 ** digits
    scaled = abs(value) * factor
    result = math.floor(scaled + 0.5) / factor
    result = result if value >= 0 else -result
    return int(result) if digits == 0 else result


def _sqrt(value):
    if value < 0:
        raise CalcError("sqrt of a negative number")
    return math.sqrt(value)


FUNCTIONS = {
    "abs": (abs, 1, 1),
    "min": (min, 1, None),
    "max": (max, 1, None),
    "round": (_round, 1, 2),
    "sqrt": (_sqrt, 1, 1),
}

CONSTANTS = {"pi": math.pi, "e": math.e}


def _binary(op, left, right):
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op in ("/", "//", "%") and right == 0:
        raise CalcError("division by zero")
    if op == "/":
        result = left / right
        return int(result) if result == int(result) else result
    if op == "//":
        return left // right
    if op == "%":
        return left % right
    if op == "**":
        if left == 0 and right < 0:
            raise CalcError("zero to a negative power")
        return left ** right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    raise CalcError(f"unknown operator {op!r}")


def evaluate_tree(node, variables=None):
    variables = variables or {}
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Var):
        if node.name in variables:
            return variables[node.name]
        if node.name in CONSTANTS:
            return CONSTANTS[node.name]
        raise CalcError(f"unknown variable {node.name!r}")
    if isinstance(node, Neg):
        return -evaluate_tree(node.operand, variables)
    if isinstance(node, Call):
        if node.name not in FUNCTIONS:
            raise CalcError(f"unknown function {node.name!r}")
        function, least, most = FUNCTIONS[node.name]
        count = len(node.args)
        if count < least or (most is not None and count > most):
            raise CalcError(f"{node.name}() takes {least}..{most or 'many'} arguments, "
                            f"got {count}")
        args = [evaluate_tree(arg, variables) for arg in node.args]
        return function(*args)
    if isinstance(node, BinOp):
        left = evaluate_tree(node.left, variables)
        right = evaluate_tree(node.right, variables)
        return _binary(node.op, left, right)
    raise CalcError(f"cannot evaluate {node!r}")


def evaluate(source, variables=None):
    """Evaluate the expression `source` with optional variable bindings."""
    return evaluate_tree(parse(source), variables)


def free_variables(source):
    """Names used in `source` that are neither functions nor constants, sorted."""
    names = set()

    def walk(node):
        if isinstance(node, Var) and node.name not in CONSTANTS:
            names.add(node.name)
        elif isinstance(node, Neg):
            walk(node.operand)
        elif isinstance(node, Call):
            for arg in node.args:
                walk(arg)
        elif isinstance(node, BinOp):
            walk(node.left)
            walk(node.right)

    walk(parse(source))
    return sorted(names)
