"""The SWE-bench harness' log parsers and grading, loaded for parity tests only.

swebench is installed without its dependencies, and its package `__init__`s pull
in Docker and dataset code; this loads just `harness.log_parsers` and
`harness.grading` (with a stand-in for `unidiff`, which they never call) and
restores `sys.modules` afterwards.
"""
import contextlib
import importlib
import importlib.util
import os
import sys
import types


@contextlib.contextmanager
def loaded():
  """Yields a namespace: registry, repo_parsers, grading, EvalType, TestStatus."""
  spec = importlib.util.find_spec("swebench")
  if spec is None or not spec.submodule_search_locations:
    raise ImportError("swebench is not installed (pip install --no-deps swebench)")
  root = list(spec.submodule_search_locations)[0]
  names = ("swebench", "unidiff")
  saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in names}
  try:
    for name, sub in (("swebench", ""), ("swebench.harness", "harness")):
      package = types.ModuleType(name)
      package.__path__ = [os.path.join(root, sub)]
      sys.modules[name] = package
    if importlib.util.find_spec("unidiff") is None:
      sys.modules["unidiff"] = types.SimpleNamespace(PatchSet=None)
    parsers = importlib.import_module("swebench.harness.log_parsers")
    python = importlib.import_module("swebench.harness.log_parsers.python")
    grading = importlib.import_module("swebench.harness.grading")
    constants = importlib.import_module("swebench.harness.constants")
    yield types.SimpleNamespace(
        registry=dict(parsers.PARSER_REGISTRY), repo_parsers=dict(python.MAP_REPO_TO_PARSER_PY),
        python_names=[n for n, f in parsers.PARSER_REGISTRY.items()
                      if f.__module__ == python.__name__],
        grading=grading, EvalType=constants.EvalType, TestStatus=constants.TestStatus)
  finally:
    for name in [k for k in sys.modules if k.split(".")[0] in names]:
      del sys.modules[name]
    sys.modules.update(saved)
