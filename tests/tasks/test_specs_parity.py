"""swejax's reimplemented harness specs against the `swebench` 4.x package itself.

swebench 4.1.0 cannot share the environment with 5.x (same package name):
launch/setup.sh installs it into .venv/swebench4, and a subprocess loads only its
constants, log-parser map and eval-script code from there (its package
`__init__`s pull in dataset and Docker code). Every Python repo and version in
MAP_REPO_VERSION_TO_SPECS is compared: the eval script (activation, eval_commands,
install, test command and directives), the log parser and the image name.
"""
import json
import os
import subprocess
import sys

import pytest

from swejax.tasks import harness, logparse, specs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEBENCH4 = os.path.join(ROOT, ".venv", "swebench4")

# Test patches covering what get_test_directives and the reset line look at: a modified
# and a new test file, a nested path, non-test extensions, a binary baseline, docs.
TEST_PATCHES = [
    """diff --git a/tests/test_core.py b/tests/test_core.py
index 1111111..2222222 100644
--- a/tests/test_core.py
+++ b/tests/test_core.py
@@ -1,2 +1,3 @@
 def test_a():
     pass
+def test_b(): pass
""",
    """diff --git a/tests/admin_views/tests.py b/tests/admin_views/tests.py
index 1111111..2222222 100644
--- a/tests/admin_views/tests.py
+++ b/tests/admin_views/tests.py
@@ -10,1 +10,1 @@
-    x = 1
+    x = 2
diff --git a/tests/admin_views/models/new_case.py b/tests/admin_views/models/new_case.py
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/tests/admin_views/models/new_case.py
@@ -0,0 +1,1 @@
+CASE = 1
diff --git a/tests/data/fixture.json b/tests/data/fixture.json
index 1111111..2222222 100644
--- a/tests/data/fixture.json
+++ b/tests/data/fixture.json
@@ -1,1 +1,1 @@
-{}
+{"a": 1}
diff --git a/lib/pkg/tests/baseline_images/x.png b/lib/pkg/tests/baseline_images/x.png
new file mode 100644
index 0000000..4444444
Binary files /dev/null and b/lib/pkg/tests/baseline_images/x.png differ
diff --git a/docs/changes.rst b/docs/changes.rst
index 1111111..2222222 100644
--- a/docs/changes.rst
+++ b/docs/changes.rst
@@ -1,1 +1,2 @@
 Changes
+- fixed
""",
]
INSTANCE_IDS = ["django__django-11099", "Owner__Repo-12", "a__b__c-1", "sympy__sympy-20590"]
BASE = "0123456789abcdef0123456789abcdef01234567"

_REFERENCE = r"""
import json, os, sys, types
root = sys.argv[1]
sys.path.insert(0, root)
def unused(*args, **kwargs):
  return None
for name in ("datasets", "dotenv"):  # imported at module level; nothing here needs them
  stub = types.ModuleType(name)
  stub.Dataset = stub.load_dataset = stub.load_from_disk = stub.load_dotenv = unused
  sys.modules[name] = stub
for name, sub in (("swebench", "swebench"), ("swebench.harness", "swebench/harness")):
  package = types.ModuleType(name)
  package.__path__ = [os.path.join(root, sub)]
  sys.modules[name] = package
from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS_PY, MAP_REPO_VERSION_TO_SPECS
from swebench.harness.log_parsers import MAP_REPO_TO_PARSER
from swebench.harness.test_spec.create_scripts import make_eval_script_list
from swebench.harness.test_spec.test_spec import TestSpec
import swebench.harness.test_spec.python as py
args = json.loads(sys.stdin.read())
out = {"scripts": {}, "parsers": {}, "images": {}, "untestable": [], "version": None}
for repo, versions in MAP_REPO_VERSION_TO_SPECS_PY.items():
  parser = MAP_REPO_TO_PARSER.get(repo)
  out["parsers"][repo] = parser.__name__ if parser else None
  for version, spec in versions.items():
    if "test_cmd" not in spec:
      out["untestable"].append([repo, version])
      continue
    for i, patch in enumerate(args["patches"]):
      instance = {"repo": repo, "version": version, "instance_id": "x__y-1",
                  "base_commit": args["base"], "test_patch": patch}
      lines = make_eval_script_list(instance, MAP_REPO_VERSION_TO_SPECS[repo][version],
                                    "testbed", "/testbed", args["base"], patch)
      script = TestSpec("x", repo, version, [], lines, [], "x86_64", [], [], "py", {}, None)
      out["scripts"][f"{repo}|{version}|{i}"] = script.eval_script
for iid in args["ids"]:
  spec = TestSpec(iid, "r", "1", [], [], [], "x86_64", [], [], "py", {}, "swebench")
  out["images"][iid] = spec.instance_image_key
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def reference():
  if not os.path.isdir(os.path.join(SWEBENCH4, "swebench")):
    pytest.skip("swebench 4.1.0 is not in .venv/swebench4 (run launch/setup.sh)")
  run = subprocess.run(
      [sys.executable, "-c", _REFERENCE, SWEBENCH4], capture_output=True, text=True,
      input=json.dumps({"patches": TEST_PATCHES, "base": BASE, "ids": INSTANCE_IDS}),
      timeout=120, env={"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"})
  assert run.returncode == 0, run.stderr[-3000:]
  return json.loads(run.stdout)


def test_every_python_repo_and_version_is_covered(reference):
  pairs = {tuple(k.split("|")[:2]) for k in reference["scripts"]}
  ours = {(repo, version) for repo, versions in specs.SPECS.items() for version in versions}
  assert ours == pairs
  assert len({repo for repo, _ in pairs}) >= 18
  # versions the harness has no test command for: it cannot evaluate them either
  assert reference["untestable"], "expected dbt-core's spec without test_cmd"
  assert not {tuple(p) for p in reference["untestable"]} & ours


def test_eval_scripts_match_the_harness(reference):
  """Activation, eval_commands, install, the test command line and its directives."""
  mismatched = []
  for key, expected in reference["scripts"].items():
    repo, version, i = key.split("|")
    ours = specs.eval_script(repo, version, BASE, TEST_PATCHES[int(i)])
    if ours != expected:
      mismatched.append(key)
  assert not mismatched, f"{len(mismatched)} differ, e.g. {mismatched[:5]}"


def test_test_command_runs_the_harness_test_line(reference):
  for key, expected in reference["scripts"].items():
    repo, version, i = key.split("|")
    setup, test = harness.script_parts(expected)
    line = " ".join([specs.spec_for(repo, version).test_cmd,
                     *specs.test_directives(repo, TEST_PATCHES[int(i)])])
    assert test == [line.rstrip()] or test == [line], key
    assert setup[:2] == ["source /opt/miniconda3/bin/activate", "conda activate testbed"], key


def test_log_parsers_match_the_harness(reference):
  """Our repo -> parser name resolves to the function the harness maps the repo to."""
  for repo, name in reference["parsers"].items():
    if name is None:  # swe-bench/humaneval, dbt-core: no parser in the harness's map
      continue
    ours = harness.repo_parser(repo)
    assert logparse.get_parser(ours) is logparse.get_parser(name), repo


def test_image_names_match_the_harness(reference):
  for instance_id, expected in reference["images"].items():
    assert harness.image_name(instance_id) == expected.lower()
  assert reference["images"]["django__django-11099"] == (
      "swebench/sweb.eval.x86_64.django_1776_django-11099:latest")
