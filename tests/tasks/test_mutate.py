"""The AST bug injector and the hidden-test removal."""
import ast

import pytest

from swejax.tasks import mutate, synth

SOURCE = '''"""Module docstring."""

LIMIT = 10


def clamp(value, low=0, high=LIMIT):
    """Clamp into [low, high]."""
    if value < low:
        return low
    if not value <= high:
        value = high
    total = value + low * 2
    total -= 1
    items = [x for x in range(total) if x % 2 == 0 and x > 1]
    return max(items, default=0), min(value, high), -value


def name(text):
    return text.lower().startswith("a") or False
'''


def _kinds(mutations):
  return {m.kind for m in mutations}


def test_finds_every_kind():
  found = mutate.find_mutations("m.py", SOURCE)
  assert _kinds(found) >= {
      "binop", "augassign", "compare", "boolop", "constant", "bool_constant", "range_bound",
      "drop_statement", "swap_args", "negate_condition", "wrong_function", "drop_unary",
      "return_none"}


def test_each_mutant_is_a_small_valid_change():
  original = ast.dump(ast.parse(SOURCE))
  for m in mutate.find_mutations("m.py", SOURCE):
    mutated = m.apply(SOURCE)
    assert ast.dump(ast.parse(mutated)) != original, m
    changed = [a for a, b in zip(SOURCE.splitlines(), mutated.splitlines()) if a != b]
    assert len(SOURCE.splitlines()) - len(mutated.splitlines()) in (0, 1), m
    assert len(changed) <= 2 or m.kind == "drop_statement", m


@pytest.mark.parametrize("kind, before, after", [
    ("compare", "    if value < low:", "    if value <= low:"),
    ("negate_condition", "    if not value <= high:", "    if value <= high:"),
    ("augassign", "    total -= 1", "    total += 1"),
    ("range_bound", "range(total)", "range(total + 1)"),
    ("swap_args", "min(value, high)", "min(high, value)"),
    ("wrong_function", "max(items, default=0)", "min(items, default=0)"),
    ("drop_unary", ", -value", ", value"),
    ("boolop", "x % 2 == 0 and x > 1", "x % 2 == 0 or x > 1"),
])
def test_specific_edits(kind, before, after):
  texts = [m.apply(SOURCE) for m in mutate.find_mutations("m.py", SOURCE) if m.kind == kind]
  assert any(before in SOURCE and after in t and before not in t.replace(after, "")
             for t in texts), (kind, before)


def test_docstrings_and_module_entry_point_untouched():
  source = '"""Doc."""\n\nif __name__ == "__main__":\n    print(1 + 2)\n'
  for m in mutate.find_mutations("m.py", source):
    assert m.apply(source).startswith('"""Doc."""')
    assert m.kind != "negate_condition"


def test_drop_only_statement_leaves_pass():
  source = "def f(x):\n    if x:\n        x.append(1)\n    return x\n"
  dropped = [m.apply(source) for m in mutate.find_mutations("m.py", source)
             if m.kind == "drop_statement"]
  assert "def f(x):\n    if x:\n        pass\n    return x\n" in dropped


def test_deterministic():
  assert mutate.find_mutations("m.py", SOURCE) == mutate.find_mutations("m.py", SOURCE)


def test_seed_packages_have_many_sites():
  names = synth.list_seeds()
  assert len(names) >= 5
  for name in names:
    seed = synth.load_seed(name)
    count = sum(len(mutate.find_mutations(p, seed.files[p].decode())) for p in seed.source_files)
    assert count >= 100, name


def test_remove_tests():
  source = ('import pytest\n\n\ndef test_a():\n    assert 1\n\n\n'
            '@pytest.mark.parametrize("x", [1, 2])\ndef test_b(x):\n    assert x\n\n\n'
            'class TestC:\n    def test_c1(self):\n        pass\n\n'
            '    def test_c2(self):\n        pass\n\n\nclass TestD:\n'
            '    def test_d(self):\n        pass\n')
  out = synth.remove_tests(source, {"test_b", "TestC::test_c1", "TestD::test_d"})
  ast.parse(out)
  assert "def test_a" in out and "def test_c2" in out
  assert "test_b" not in out and "parametrize" not in out
  assert "test_c1" not in out and "TestD" not in out
