"""Diff parsing and the test-infrastructure classification the grader relies on."""
import pytest

from swejax.tasks import patches

DIFF = """diff --git a/src/pkg/mod.py b/src/pkg/mod.py
index 1..2 100644
--- a/src/pkg/mod.py
+++ b/src/pkg/mod.py
@@ -1,3 +1,3 @@
 x = 1
--- not a header, a removed line starting with '-- '
+++ not a header either
 y = 2
diff --git a/old name.py b/new name.py
similarity index 90%
rename from old name.py
rename to new name.py
diff --git a/tests/conftest.py b/tests/conftest.py
new file mode 100644
--- /dev/null
+++ b/tests/conftest.py
@@ -0,0 +1 @@
+import os
"""


def test_touched_paths_and_stats():
  assert patches.touched_paths(DIFF) == (
      "new name.py", "old name.py", "src/pkg/mod.py", "tests/conftest.py")
  stats = patches.patch_stats(DIFF)
  assert (stats.added, stats.removed, stats.changed_lines) == (2, 1, 3)


@pytest.mark.parametrize("path", [
    "conftest.py", "pkg/sub/conftest.py", "pytest.ini", "sub/pytest.ini", "tox.ini",
    "setup.cfg", "pyproject.toml", "tests/test_a.py", "tests/data/x.json", "test/util.py",
    "pkg/testing/helpers.py", "pkg/test_mod.py", "pkg/mod_test.py", "sitecustomize.py",
    "lib/usercustomize.py", "x.pth", "pkg/__pycache__/m.cpython-311.pyc", "m.pyc",
    "pkg.egg-info/entry_points.txt", "site/pkg-1.0.dist-info/entry_points.txt",
    ".pytest.ini", "pytest.toml",
])
def test_test_infrastructure(path):
  assert patches.is_test_infrastructure(path)


@pytest.mark.parametrize("path", [
    "pkg/core.py", "src/pkg/core.py", "README.md", "docs/conf.py", "pkg/contest.py",
    "pkg/latest_version.py", "setup.py",
])
def test_not_test_infrastructure(path):
  assert not patches.is_test_infrastructure(path)


@pytest.mark.parametrize("path, shadows", [
    ("json.py", True), ("src/inspect.py", True), ("pytest.py", True), ("_pytest/x.py", True),
    ("pluggy/__init__.py", True), ("pkg/json.py", False), ("mypkg.py", False),
    ("traceback/__init__.py", True), ("site/index.html", False), ("README.md", False),
])
def test_shadows_runner(path, shadows):
  assert patches.shadows_runner(path) is shadows


def test_test_files_of_a_test_patch():
  diff = DIFF + ("diff --git a/tests/test_x.py b/tests/test_x.py\n--- a/tests/test_x.py\n"
                 "+++ b/tests/test_x.py\n@@ -1 +1 @@\n-a\n+b\n")
  assert patches.test_files(diff) == ("new name.py", "old name.py", "src/pkg/mod.py",
                                      "tests/test_x.py")
