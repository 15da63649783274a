"""Writing a short issue text from a failing test: a reproduction snippet built
from the test's own code (parameters, fixtures and helpers inlined), its actual
result under the bug, and the expected one. It describes the symptom, never
the fix.
"""
from __future__ import annotations

import ast
import dataclasses
import random
import re
import textwrap

from swejax.tasks import pyast

_RUN_TEMPLATE = """{setup}

def __swejax_show(thunk):
    try:
        value = thunk()
    except Exception as error:
        text = str(error).splitlines()[0] if str(error) else ""
        return None, "EXC " + type(error).__name__ + (": " + text if text else "")
    text = str(value)
    if not text or "\\n" in text or text != text.strip():
        text = repr(value)
    return value, "VAL " + text


__swejax_v, __swejax_line = __swejax_show(lambda: ({expr}))
print(__swejax_line)
__swejax_e, __swejax_eline = __swejax_show(lambda: ({expected}))
print("EXP" + __swejax_eline[3:])
try:
    if {truthy}:
        __swejax_eq = bool(__swejax_v) == __swejax_e
    else:
        __swejax_eq = __swejax_v == __swejax_e or (
            isinstance(__swejax_e, float) and __import__("math").isclose(
                __swejax_v, __swejax_e, rel_tol=1e-6, abs_tol=1e-12))
except Exception:
    __swejax_eq = False
print("EQ", __swejax_line.startswith("VAL") and __swejax_eline.startswith("VAL")
      and bool(__swejax_eq))
"""


@dataclasses.dataclass(frozen=True)
class Snippet:
  """A reproduction: `setup` code, then the expression `expr` to look at."""
  setup: str
  expr: str
  mode: str  # "value" (expect == expected), "raises" (expect exception), "crash"
  expected: str  # expression of the expected value, or the exception name for "raises"
  subject: str  # the function called, for the title, e.g. "slugify()"
  truthy: bool = False  # `assert x` / `assert not x`: compare bool(value)

  def display(self) -> str:
    last = f"print({self.expr})" if self.mode == "value" else self.expr
    return (f"{self.setup}\n\n{last}" if self.setup else last).strip()

  def script(self) -> str:
    """A script printing `VAL <str(value)>` or `EXC <Type>: <message>`, then for
    value mode the expected value (`EXP ...`) and whether they match (`EQ ...`)."""
    expected = self.expected if self.mode == "value" else "None"
    return _RUN_TEMPLATE.format(setup=self.setup, expr=self.expr, expected=expected,
                                truthy=self.truthy)


@dataclasses.dataclass(frozen=True)
class Outcome:
  """What a snippet script printed."""
  line: str  # "VAL <value>" or "EXC <Type>: <message>"
  expected: str  # "VAL <value>" of the expected expression (value mode)
  equal: bool

  @classmethod
  def parse(cls, output: str) -> "Outcome | None":
    lines = [l for l in output.splitlines() if l.startswith(("VAL", "EXC", "EXP", "EQ "))]
    if len(lines) < 3 or not lines[-2].startswith("EXP") or not lines[-1].startswith("EQ "):
      return None
    return cls(line=lines[-3], expected="VAL" + lines[-2][3:], equal=lines[-1] == "EQ True")


def _params(nodeid: str) -> str | None:
  name = nodeid.split("::")[-1]
  return name[name.index("[") + 1:-1] if "[" in name and name.endswith("]") else None


def _is_parametrize(dec: ast.expr) -> bool:
  return (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
          and dec.func.attr == "parametrize")


def _is_fixture(func: ast.FunctionDef) -> bool:
  for dec in func.decorator_list:
    target = dec.func if isinstance(dec, ast.Call) else dec
    if isinstance(target, ast.Attribute) and target.attr == "fixture":
      return True
  return False


def _id_part(node: ast.expr, argname: str, index: int) -> str:
  """How pytest names one parameter value in a test id."""
  try:
    value = ast.literal_eval(node)
  except ValueError:
    return f"{argname}{index}"
  if isinstance(value, str):
    return value.encode("unicode_escape").decode("ascii")
  if value is None or isinstance(value, (bool, int, float)):
    return str(value)
  return f"{argname}{index}"


def _bindings(func: ast.FunctionDef, source: str, params: str) -> dict[str, str] | None:
  """{argname: value source} of the parametrized case named `params`."""
  decs = [d for d in func.decorator_list if _is_parametrize(d)]
  if len(decs) != 1 or decs[0].keywords or len(decs[0].args) != 2:
    return None
  names_node, values_node = decs[0].args
  if isinstance(names_node, ast.Constant) and isinstance(names_node.value, str):
    names = [n.strip() for n in names_node.value.split(",") if n.strip()]
  else:
    return None
  if not isinstance(values_node, (ast.List, ast.Tuple)):
    return None
  found = None
  ids = []
  for index, row in enumerate(values_node.elts):
    items = row.elts if len(names) > 1 and isinstance(row, ast.Tuple) else [row]
    if len(items) != len(names):
      return None
    case_id = "-".join(_id_part(item, name, index) for item, name in zip(items, names))
    ids.append(case_id)
    if case_id == params:
      found = items
  if found is None or ids.count(params) != 1:
    return None
  return {name: ast.get_source_segment(source, item) for name, item in zip(names, found)}


def _substitute(code: str, bindings: dict[str, str]) -> str:
  """Replaces the loaded names in `bindings` by their values' source text."""
  if not bindings:
    return code
  tree = pyast.parse(code)
  lines = code.splitlines(keepends=True)
  starts = [0]
  for line in lines:
    starts.append(starts[-1] + len(line))
  edits = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in bindings:
      start = starts[node.lineno - 1] + node.col_offset
      end = starts[node.end_lineno - 1] + node.end_col_offset
      edits.append((start, end, bindings[node.id]))
  for start, end, text in sorted(edits, reverse=True):
    code = code[:start] + text + code[end:]
  return code


def _names(code: str) -> set[str]:
  return {n.id for n in ast.walk(pyast.parse(code)) if isinstance(n, ast.Name)}


def _module_defs(tree: ast.Module) -> dict[str, ast.stmt]:
  """Module-level names the snippet may need: imports, helpers, constants."""
  defs: dict[str, ast.stmt] = {}
  for stmt in tree.body:
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
      for alias in stmt.names:
        defs[(alias.asname or alias.name).split(".")[0]] = stmt
    elif isinstance(stmt, (ast.FunctionDef, ast.ClassDef)) and not stmt.name.startswith(
        ("test_", "Test")) and not (isinstance(stmt, ast.FunctionDef) and _is_fixture(stmt)):
      defs[stmt.name] = stmt
    elif isinstance(stmt, ast.Assign):
      for target in stmt.targets:
        if isinstance(target, ast.Name):
          defs[target.id] = stmt
  return defs


def _import_text(stmt: ast.stmt, used: set[str]) -> str:
  keep = [a for a in stmt.names if (a.asname or a.name).split(".")[0] in used]
  names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in keep)
  if isinstance(stmt, ast.ImportFrom):
    return f"from {'.' * stmt.level}{stmt.module or ''} import {names}"
  return f"import {names}"


def _fixture_code(func: ast.FunctionDef, source: str) -> str | None:
  """`name = <returned value>` after the fixture body, or None if not inlinable."""
  if func.args.args or not func.body or not isinstance(func.body[-1], ast.Return):
    return None
  if any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(func)):
    return None
  body = [ast.get_source_segment(source, s) for s in func.body[:-1]
          if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
  body.append(f"{func.name} = {ast.get_source_segment(source, func.body[-1].value)}")
  return "\n".join(body)


def _subject(expr: str) -> str:
  """The called function of an expression, e.g. `stock.issue(...)` -> `issue()`."""
  for node in ast.walk(pyast.parse(expr, mode="eval")):
    if isinstance(node, ast.Call):
      func = node.func
      if isinstance(func, ast.Name) and func.id not in ("list", "sorted", "set", "str"):
        return f"{func.id}()"
      if isinstance(func, ast.Attribute):
        return f"{func.attr}()"
  return f"`{expr}`" if len(expr) < 40 else "the result"


def _unwrap_approx(text: str) -> str:
  match = re.fullmatch(r"pytest\.approx\((.*)\)", text.strip(), flags=re.S)
  return match.group(1) if match else text


def _find_function(tree: ast.Module, nodeid: str) -> ast.FunctionDef | None:
  parts = nodeid.split("::")[1:]
  if not parts:
    return None
  parts[-1] = parts[-1].split("[", 1)[0]
  scope: list[ast.stmt] = tree.body
  for index, name in enumerate(parts):
    found = next((s for s in scope if isinstance(s, (ast.FunctionDef, ast.ClassDef))
                  and s.name == name), None)
    if found is None:
      return None
    if index == len(parts) - 1:
      return found if isinstance(found, ast.FunctionDef) else None
    if not isinstance(found, ast.ClassDef):
      return None
    scope = found.body
  return None


def _raises_name(with_stmt: ast.With) -> str | None:
  if len(with_stmt.items) != 1:
    return None
  call = with_stmt.items[0].context_expr
  if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
      and call.func.attr == "raises" and call.args:
    return ast.unparse(call.args[0])
  return None


def build_snippet(source: str, nodeid: str, line: int) -> Snippet | None:
  """The reproduction for test `nodeid` of a test file that failed at `line`.

  None when the test cannot be turned into a self-contained snippet (class
  methods, several parametrize decorators, yield fixtures, loops ...).
  """
  tree = pyast.parse(source)
  func = _find_function(tree, nodeid)
  if func is None or len(nodeid.split("::")) != 2:
    return None
  params = _params(nodeid)
  bindings = _bindings(func, source, params) if params is not None else {}
  if bindings is None:
    return None
  index = next((i for i, s in enumerate(func.body) if s.lineno <= line <= s.end_lineno), None)
  if index is None:
    return None
  failing = func.body[index]
  setup_lines = [_substitute(code, bindings)
                 for code in (_setup_code(s, source) for s in func.body[:index]) if code]
  truthy = False
  if isinstance(failing, ast.Assert):
    test = failing.test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and (
        isinstance(test.ops[0], ast.Eq) or (isinstance(test.ops[0], ast.Is) and isinstance(
            test.comparators[0], (ast.Constant, ast.Name)))):
      expr = ast.get_source_segment(source, test.left)
      expected = _unwrap_approx(ast.get_source_segment(source, test.comparators[0]))
    elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
      expr, expected, truthy = ast.get_source_segment(source, test.operand), "False", True
    else:
      expr, expected, truthy = ast.get_source_segment(source, test), "True", True
    mode = "value"
  elif isinstance(failing, ast.With) and _raises_name(failing):
    body = failing.body
    if not body or not isinstance(body[-1], (ast.Expr, ast.Assign)):
      return None
    setup_lines += [_substitute(ast.get_source_segment(source, s), bindings) for s in body[:-1]]
    last = body[-1]
    expr = ast.get_source_segment(source, last.value)
    mode, expected = "raises", _raises_name(failing)
  elif isinstance(failing, (ast.Expr, ast.Assign)):
    expr = ast.get_source_segment(source, failing.value)
    mode, expected = "crash", ""
  else:
    return None
  expr = _substitute(expr, bindings)
  expected = _substitute(expected, bindings)
  return _with_context(tree, source, func, setup_lines, bindings,
                       dict(expr=expr, mode=mode, expected=expected, truthy=truthy))


def _has_method_call(node: ast.AST) -> bool:
  return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and isinstance(n.func.value, ast.Name) for n in ast.walk(node))


def _setup_code(stmt: ast.stmt, source: str) -> str | None:
  """What an earlier statement of the test contributes to the reproduction.

  Plain statements stay. An assert stays only as its checked call when that
  call may change state (a method call on a local object); other checks go.
  """
  if isinstance(stmt, (ast.With, ast.Pass)) or (
      isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
    return None
  if isinstance(stmt, ast.Assert):
    test = stmt.test
    target = test.operand if isinstance(test, ast.UnaryOp) else (
        test.left if isinstance(test, ast.Compare) else test)
    return ast.get_source_segment(source, target) if _has_method_call(target) else None
  return ast.get_source_segment(source, stmt)


def _with_context(tree: ast.Module, source: str, func: ast.FunctionDef,
                  setup_lines: list[str], bindings: dict[str, str],
                  what: dict) -> Snippet | None:
  """Prepends the imports, helpers, constants and fixtures the snippet uses."""
  defs = _module_defs(tree)
  fixtures = {s.name: s for s in tree.body if isinstance(s, ast.FunctionDef) and _is_fixture(s)}
  fixture_code = []
  for arg in func.args.args:
    if arg.arg in bindings:
      continue
    if arg.arg not in fixtures:
      return None
    code = _fixture_code(fixtures[arg.arg], source)
    if code is None:
      return None
    fixture_code.append(code)
  body = "\n".join(fixture_code + setup_lines)
  expr = what["expr"]
  wanted = _names(body + "\n" + expr + "\n" + what["expected"])
  chosen: dict[int, ast.stmt] = {}
  pending = list(wanted)
  while pending:
    name = pending.pop()
    stmt = defs.get(name)
    if stmt is None or id(stmt) in chosen:
      continue
    chosen[id(stmt)] = stmt
    if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
      pending.extend(_names(ast.get_source_segment(source, stmt)) - wanted)
      wanted |= _names(ast.get_source_segment(source, stmt))
  ordered = sorted(chosen.values(), key=lambda s: s.lineno)
  imports = [_import_text(s, wanted) for s in ordered if isinstance(s, (ast.Import, ast.ImportFrom))]
  others = [ast.get_source_segment(source, s) for s in ordered
            if not isinstance(s, (ast.Import, ast.ImportFrom))]
  parts = ["\n".join(imports)] if imports else []
  parts += others
  if body:
    parts.append(body)
  setup = "\n\n".join(p for p in parts if p.strip())
  return Snippet(setup=textwrap.dedent(setup).strip(), subject=_subject(expr), **what)


def _short(text: str, limit: int = 120) -> str:
  return text if len(text) <= limit else text[:limit - 3] + "..."


def describe(snippet: Snippet, buggy: Outcome, fixed: Outcome, rng: random.Random,
             package: str) -> str | None:
  """The issue text, or None unless the snippet shows the bug.

  `fixed` is the snippet's outcome on the correct code and must meet the
  expectation; `buggy` is the outcome with the bug and must not.
  """
  subject, expected = snippet.subject, snippet.expected
  kind, _, shown = buggy.line.partition(" ")
  shown = _short(shown.strip())
  error_name = shown.split(":")[0]
  if snippet.mode == "value":
    if not fixed.equal or buggy.equal:
      return None
    want = _short(fixed.expected[4:].strip())
    if kind == "VAL":
      if shown == want:
        return None
      title = rng.choice([f"{subject} returns a wrong result", f"Wrong result from {subject}",
                          f"{subject} gives unexpected output"])
      result = rng.choice([f"This prints `{shown}`, but I expected `{want}`.",
                           f"Expected output: `{want}`\nActual output: `{shown}`",
                           f"I get `{shown}` instead of `{want}`."])
    else:
      title = rng.choice([f"{subject} raises {error_name}",
                          f"Unexpected {error_name} from {subject}"])
      result = f"This raises `{shown}` instead of printing `{want}`."
  elif snippet.mode == "raises":
    name = expected.split(".")[-1]
    if not fixed.line.startswith(f"EXC {name}") or buggy.line == fixed.line:
      return None
    if kind == "VAL":
      title = rng.choice([f"{subject} does not raise {name}",
                          f"No {name} from {subject} for invalid input"])
      result = f"I expected `{name}` here, but the call succeeds and returns `{shown}`."
    elif error_name != name:
      title = f"{subject} raises the wrong exception"
      result = f"I expected `{name}`, but got `{shown}`."
    else:
      title = f"Wrong error message from {subject}"
      want = _short(fixed.line[4:].strip())
      result = f"It raises `{shown}`; I expected `{want}`."
  else:
    if not fixed.line.startswith("VAL") or kind != "EXC":
      return None
    title = f"{subject} fails with {error_name}"
    result = f"This raises `{shown}`."
  intro = rng.choice(["To reproduce:", "Minimal example:", f"Using `{package}`:",
                      "Steps to reproduce:", "The following snippet shows the problem:"])
  return f"{title}\n\n{intro}\n\n```python\n{snippet.display()}\n```\n\n{result}\n"
