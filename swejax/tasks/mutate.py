"""A procedural bug injector over Python source, driven by `ast`.

Each mutation is a small text edit at an AST node's exact source span, so the
rest of the file keeps its formatting and the fix is a one-hunk diff. Kinds:
operator swaps, comparison flips, and/or swaps, wrong constants, off-by-one
range bounds, dropped statements, swapped arguments, negated conditions,
wrong function/method names, dropped unary minus and `return None`.
"""
from __future__ import annotations

import ast
import dataclasses
import io
import tokenize

from swejax.tasks import pyast

_BINOPS = {
    ast.Add: (ast.Sub, "+", "-"), ast.Sub: (ast.Add, "-", "+"),
    ast.Mult: (ast.FloorDiv, "*", "//"), ast.Div: (ast.FloorDiv, "/", "//"),
    ast.FloorDiv: (ast.Div, "//", "/"), ast.Mod: (ast.FloorDiv, "%", "//"),
    ast.Pow: (ast.Mult, "**", "*"), ast.BitAnd: (ast.BitOr, "&", "|"),
    ast.BitOr: (ast.BitAnd, "|", "&"),
}
_AUGOPS = {ast.Add: ("+=", "-="), ast.Sub: ("-=", "+="), ast.Mult: ("*=", "+="),
           ast.FloorDiv: ("//=", "/=")}
_CMPOPS = {
    ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="), ast.GtE: (">=", ">"),
    ast.Eq: ("==", "!="), ast.NotEq: ("!=", "=="), ast.In: ("in", "not in"),
    ast.NotIn: ("not in", "in"), ast.Is: ("is", "is not"), ast.IsNot: ("is not", "is"),
}
_SWAPPED_NAMES = {
    "min": "max", "max": "min", "any": "all", "all": "any", "floor": "ceil", "ceil": "floor",
    "lower": "upper", "upper": "lower", "startswith": "endswith", "endswith": "startswith",
    "lstrip": "rstrip", "rstrip": "lstrip", "ljust": "rjust", "rjust": "ljust",
    "find": "rfind", "rfind": "find", "popleft": "pop", "appendleft": "append",
    "extend": "append", "sorted": "reversed", "issubset": "issuperset",
}
_DROPPABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Raise, ast.Break,
              ast.Continue)

KINDS = ("binop", "augassign", "compare", "boolop", "constant", "bool_constant",
         "range_bound", "drop_statement", "swap_args", "negate_condition",
         "wrong_function", "drop_unary", "return_none")


@dataclasses.dataclass(frozen=True)
class Mutation:
  path: str  # file the edit applies to, relative to the repository root
  kind: str
  line: int  # 1-based line of the edit
  start: int  # character offsets of the replaced span
  end: int
  replacement: str
  function: str  # enclosing function or method ("Class.method"), "" at module level

  def apply(self, source: str) -> str:
    return source[:self.start] + self.replacement + source[self.end:]


class _Offsets:
  """(line, UTF-8 byte column) -> character offset, as `ast` positions need."""

  def __init__(self, source: str):
    self.source = source
    self.lines = source.splitlines(keepends=True)
    self.starts = [0]
    for line in self.lines:
      self.starts.append(self.starts[-1] + len(line))

  def at(self, line: int, col: int) -> int:
    text = self.lines[line - 1] if line - 1 < len(self.lines) else ""
    return self.starts[line - 1] + len(text.encode("utf-8")[:col].decode("utf-8", "replace"))

  def span(self, node: ast.AST) -> tuple[int, int]:
    return (self.at(node.lineno, node.col_offset),
            self.at(node.end_lineno, node.end_col_offset))


def _docstring_nodes(tree: ast.AST) -> set[int]:
  ids = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
      body = node.body
      if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
          and isinstance(body[0].value.value, str):
        ids.add(id(body[0]))
  return ids


def _token_in_gap(source: str, start: int, end: int, token: str) -> int | None:
  """Offset of operator `token` in source[start:end] (between two operands).

  The gap holds only the operator, parentheses, whitespace and comments, so the
  first matching OP/NAME token sequence is the operator.
  """
  gap = source[start:end]
  texts: list[tuple[str, tuple[int, int]]] = []
  try:
    for tok in tokenize.generate_tokens(io.StringIO(gap).readline):
      if tok.type in (tokenize.OP, tokenize.NAME):
        texts.append((tok.string, tok.start))
  except (tokenize.TokenError, IndentationError, SyntaxError):
    pass  # an unbalanced bracket at the end of the gap: the tokens so far suffice
  words = token.split()
  line_starts = [0] + [k + 1 for k, c in enumerate(gap) if c == "\n"]
  for i in range(len(texts) - len(words) + 1):
    if [text for text, _ in texts[i:i + len(words)]] == words:
      row, col = texts[i][1]
      return start + line_starts[row - 1] + col
  return None


class _Finder(ast.NodeVisitor):
  """Collects every mutation site of one module."""

  def __init__(self, path: str, source: str, tree: ast.AST):
    self.path = path
    self.src = source
    self.off = _Offsets(source)
    self.docstrings = _docstring_nodes(tree)
    self.scope: list[str] = []
    self.found: list[Mutation] = []

  def _add(self, kind: str, line: int, start: int, end: int, replacement: str) -> None:
    if self.src[start:end] == replacement:
      return
    self.found.append(Mutation(self.path, kind, line, start, end, replacement,
                               ".".join(self.scope)))

  def _text(self, node: ast.AST) -> str:
    start, end = self.off.span(node)
    return self.src[start:end]

  def _replace_token(self, kind: str, node: ast.AST, left: ast.AST, right: ast.AST,
                     old: str, new: str) -> None:
    gap_start = self.off.span(left)[1]
    gap_end = self.off.span(right)[0]
    at = _token_in_gap(self.src, gap_start, gap_end, old)
    if at is None:
      return
    words = old.split()
    stop = at + len(words[0])
    if len(words) == 2:  # `not in` / `is not`, whatever the spacing between words
      stop = self.src.index(words[1], stop) + len(words[1])
    self._add(kind, node.lineno, at, stop, new)

  # --- scopes and skipped regions -------------------------------------------
  def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
    self.scope.append(node.name)
    self._drop_statements(node.body)
    for stmt in node.body:
      self.visit(stmt)
    for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
      self.visit(default)
    self.scope.pop()

  visit_AsyncFunctionDef = visit_FunctionDef

  def visit_ClassDef(self, node: ast.ClassDef) -> None:
    self.scope.append(node.name)
    for stmt in node.body:
      self.visit(stmt)
    self.scope.pop()

  def visit_If(self, node: ast.If) -> None:
    test = node.test
    if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) \
        and test.left.id == "__name__":
      return  # the script entry point is not library behaviour
    self._negate(test)
    self.generic_visit(node)

  def visit_While(self, node: ast.While) -> None:
    self._negate(node.test)
    self.generic_visit(node)

  def visit_IfExp(self, node: ast.IfExp) -> None:
    self._negate(node.test)
    self.generic_visit(node)

  # --- statements -----------------------------------------------------------
  def generic_visit(self, node: ast.AST) -> None:
    for field in ("body", "orelse", "finalbody"):
      block = getattr(node, field, None)
      if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
        self._drop_statements(block)
    super().generic_visit(node)

  def _drop_statements(self, block: list[ast.stmt]) -> None:
    if not self.scope:
      return  # module-level statements: imports and tables
    for stmt in block:
      if not isinstance(stmt, _DROPPABLE) or id(stmt) in self.docstrings:
        continue
      if isinstance(stmt, ast.Expr) and not isinstance(stmt.value, ast.Call):
        continue
      start, end = self.off.span(stmt)
      line_start = self.src.rfind("\n", 0, start) + 1
      line_end = self.src.find("\n", end)
      line_end = len(self.src) if line_end == -1 else line_end + 1
      if self.src[line_start:start].strip() or self.src[end:line_end].strip():
        continue  # shares its line with other code
      if len(block) == 1:
        self._add("drop_statement", stmt.lineno, start, end, "pass")
      else:
        self._add("drop_statement", stmt.lineno, line_start, line_end, "")

  def visit_Return(self, node: ast.Return) -> None:
    value = node.value
    if value is not None and not (isinstance(value, ast.Constant) and value.value is None):
      start, end = self.off.span(value)
      self._add("return_none", node.lineno, start, end, "None")
    self.generic_visit(node)

  def visit_AugAssign(self, node: ast.AugAssign) -> None:
    ops = _AUGOPS.get(type(node.op))
    if ops:
      self._replace_token("augassign", node, node.target, node.value, *ops)
    self.generic_visit(node)

  # --- expressions ----------------------------------------------------------
  def visit_BinOp(self, node: ast.BinOp) -> None:
    ops = _BINOPS.get(type(node.op))
    strings = (ast.JoinedStr,)
    is_text = any(isinstance(side, strings) or (isinstance(side, ast.Constant) and
                                                isinstance(side.value, (str, bytes)))
                  for side in (node.left, node.right))
    if ops and not is_text:
      self._replace_token("binop", node, node.left, node.right, ops[1], ops[2])
    self.generic_visit(node)

  def visit_Compare(self, node: ast.Compare) -> None:
    left = node.left
    for op, right in zip(node.ops, node.comparators):
      old, new = _CMPOPS[type(op)]
      self._replace_token("compare", node, left, right, old, new)
      left = right
    self.generic_visit(node)

  def visit_BoolOp(self, node: ast.BoolOp) -> None:
    old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
    self._replace_token("boolop", node, node.values[0], node.values[1], old, new)
    self.generic_visit(node)

  def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
    if isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant):
      start, end = self.off.span(node)
      self._add("drop_unary", node.lineno, start, end, self._text(node.operand))
    self.generic_visit(node)

  def visit_Constant(self, node: ast.Constant) -> None:
    value = node.value
    start, end = self.off.span(node)
    if isinstance(value, bool):
      self._add("bool_constant", node.lineno, start, end, str(not value))
    elif isinstance(value, int):
      self._add("constant", node.lineno, start, end, str(value + 1))
    elif isinstance(value, float) and value != 0.0:
      self._add("constant", node.lineno, start, end, repr(value * 10))

  def visit_Call(self, node: ast.Call) -> None:
    func = node.func
    name = func.id if isinstance(func, ast.Name) else (
        func.attr if isinstance(func, ast.Attribute) else None)
    if name in _SWAPPED_NAMES:
      if isinstance(func, ast.Name):
        start, end = self.off.span(func)
      else:
        end = self.off.span(func)[1]
        start = end - len(func.attr)
      self._add("wrong_function", node.lineno, start, end, _SWAPPED_NAMES[name])
    if name == "range" and isinstance(func, ast.Name) and node.args:
      stop = node.args[0] if len(node.args) == 1 else node.args[1]
      start, end = self.off.span(stop)
      self._add("range_bound", node.lineno, start, end, f"{self._text(stop)} + 1")
    positional = [a for a in node.args if not isinstance(a, ast.Starred)]
    if len(positional) >= 2 and len(positional) == len(node.args):
      first, second = node.args[0], node.args[1]
      a, b = self._text(first), self._text(second)
      if a != b and "\n" not in a + b:
        s1, e1 = self.off.span(first)
        s2, e2 = self.off.span(second)
        self._add("swap_args", node.lineno, s1, e2, b + self.src[e1:s2] + a)
    self.generic_visit(node)

  def _negate(self, test: ast.expr) -> None:
    start, end = self.off.span(test)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
      self._add("negate_condition", test.lineno, start, end, self._text(test.operand))
      return
    text = self._text(test)
    simple = isinstance(test, (ast.Name, ast.Call, ast.Attribute, ast.Subscript))
    self._add("negate_condition", test.lineno, start, end,
              f"not {text}" if simple else f"not ({text})")


def find_mutations(path: str, source: str) -> list[Mutation]:
  """Every mutation site of `source` (deduplicated, in source order).

  Only mutants that still parse and change the AST are returned.
  """
  tree = pyast.parse(source)
  finder = _Finder(path, source, tree)
  finder.visit(tree)
  original = ast.dump(tree)
  seen: set[str] = set()
  result: list[Mutation] = []
  for mutation in sorted(finder.found, key=lambda m: (m.start, m.end, m.kind, m.replacement)):
    mutated = mutation.apply(source)
    if mutated in seen:
      continue
    seen.add(mutated)
    try:
      if ast.dump(pyast.parse(mutated)) == original:
        continue
    except SyntaxError:
      continue
    result.append(mutation)
  return result

