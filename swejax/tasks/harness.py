"""How each row runs, decided as the SWE-bench harness decides it.

For one raw row: its image, its eval script (the harness's, for classic and
SWE-rebench rows; the row's own for `swebench` 5.x rows), its log parser and
its working directory. `test_command(task)` then turns a task into the exact
shell text the grader runs once it has reset the test files and applied the
test_patch itself.

Precedence, most specific first:
- image: the row's `image` / `docker_image` / `image_name`; the configured
  default image; else the harness's name `swebench/sweb.eval.x86_64.<id>:latest`
  (`__` -> `_1776_`). A configured namespace or template then rewrites every
  image of an image task (a private mirror); snapshot tasks keep their base image.
- command: the row's `eval_script`; the row's `test_cmd`; the configured
  default command; SWE-rebench's `install_config` (test_cmd, install,
  eval_commands); the harness's spec for (repo, version); plain `pytest -rA`
  for repos outside the harness's table (e.g. SWE-Gym's).
- log parser: the row's `log_parser`; `install_config.log_parser`; the
  configured default; `pytest` for rows with their own `test_cmd`, else the
  harness's parser for the repo (its plain pytest parser outside its table).
"""
from __future__ import annotations

import dataclasses
import re
import shlex
from typing import TYPE_CHECKING, Any, Mapping

from swejax.tasks import logparse, patches, specs

if TYPE_CHECKING:
  from swejax.tasks.schema import RowDefaults, Task

TEST_FILES = "{test_files}"  # as schema.TEST_FILES
DEFAULT_NAMESPACE = "swebench"
ENV_LOG = "/tmp/swejax-env.log"
EVAL_TYPES = ("pass_and_fail", "fail_only")
_HEREDOC_START = re.compile(r"<<-?\s*'?\"?([A-Za-z0-9_]+)'?\"?\s*$")


@dataclasses.dataclass(frozen=True)
class Resolved:
  """How one row runs; `errors` name the fields that could not be resolved."""
  image: str
  test_cmd: str
  eval_script: str
  log_parser: str
  eval_type: str
  errors: tuple[str, ...] = ()


def image_key(instance_id: str) -> str:
  """The harness's instance image name without namespace (lowercase, `__` -> `_1776_`)."""
  return f"sweb.eval.x86_64.{instance_id}:latest".lower().replace("__", "_1776_")


def image_name(instance_id: str, namespace: str = DEFAULT_NAMESPACE) -> str:
  """The harness's remote image name for an instance, e.g. for a private namespace."""
  return f"{namespace}/{image_key(instance_id)}".lower().replace("__", "_1776_")


def mirror_image(image: str, instance_id: str, repo: str, namespace: str = "",
                 template: str = "") -> str:
  """`image` as a private mirror names it.

  `template` may use {name} (the image's last path part, e.g.
  `sweb.eval.x86_64.django_1776_django-11099:latest`), {key} (the harness's
  name for the instance), {instance_id} and {repo}; `namespace` replaces
  everything before the last `/`.
  """
  name = image.rsplit("/", 1)[-1]
  if template:
    return template.format(name=name, key=image_key(instance_id), instance_id=instance_id,
                           repo=repo)
  if namespace:
    return f"{namespace.rstrip('/')}/{name}"
  return image


def check_template(template: str) -> None:
  """Raises ValueError naming the placeholder when `template` is not a valid image template."""
  try:
    template.format(name="n", key="k", instance_id="i", repo="r")
  except (KeyError, IndexError, ValueError) as e:
    raise ValueError(f"image template {template!r}: bad placeholder {e} (known: {{name}} "
                     "{key} {instance_id} {repo})") from None


def _text_list(value: Any) -> tuple[str, ...] | None:
  """A command given as a string or a list of strings (SWE-rebench allows both)."""
  if hasattr(value, "tolist"):
    value = value.tolist()
  if isinstance(value, str):
    return (value,) if value.strip() else ()
  if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
    return tuple(v for v in value if v.strip())
  return None


def _rebench_spec(install: Mapping[str, Any], errors: list[str]) -> specs.Spec | None:
  test = _text_list(install.get("test_cmd"))
  if not test:
    if install.get("test_cmd") not in (None, "", []):
      errors.append("field install_config.test_cmd: expected a string or a list of strings")
    return None
  setup = _text_list(install.get("install") or "")
  extra = _text_list(install.get("eval_commands") or ())
  if setup is None or extra is None:
    errors.append("field install_config: install and eval_commands must be strings or lists")
    return None
  return specs.Spec(test_cmd=" && ".join(test), install=" && ".join(setup), eval_commands=extra)


def script_parts(script: str) -> tuple[list[str], list[str]]:
  """(set-up lines, test lines) of an eval script.

  Set-up lines are those before the start-of-output marker, without the reset
  of the test files and the heredoc that applies the test_patch (the grader
  does both itself); test lines are those between the markers.
  """
  lines = script.split("\n")
  start = next((i for i, l in enumerate(lines) if specs.START_TEST_OUTPUT in l), None)
  if start is None:
    raise ValueError(f"no {specs.START_TEST_OUTPUT!r} marker (not a harness eval script)")
  end = next((i for i in range(start + 1, len(lines)) if specs.END_TEST_OUTPUT in lines[i]),
             None)
  if end is None:
    raise ValueError(f"no {specs.END_TEST_OUTPUT!r} marker (not a harness eval script)")
  setup: list[str] = []
  heredoc = None
  for line in lines[:start]:
    if heredoc is not None:
      heredoc = None if line == heredoc else heredoc
      continue
    stripped = line.strip()
    if stripped in ("#!/bin/bash", "") or stripped.startswith("set -"):
      continue
    match = _HEREDOC_START.search(stripped)
    if stripped.startswith("git apply") and match:
      heredoc = match.group(1)
      continue
    if re.match(r"git checkout [0-9a-f]{7,40}\b", stripped) or stripped.startswith(
        "git apply") or stripped == 'echo "No test files to reset"':
      continue
    setup.append(line)
  return setup, [l for l in lines[start + 1:end] if l.strip()]


def _display_cmd(script: str) -> str:
  setup, test = script_parts(script)
  text = " && ".join(test)
  if any(f"conda activate {specs.ENV_NAME}" in l for l in setup):
    text = f"{specs.ACTIVATE} && {text}"
  return text


def repo_parser(repo: str) -> str:
  """The harness's log parser for `repo`; its plain pytest parser outside its table."""
  try:
    return logparse.parser_for_repo(repo)
  except ValueError:  # outside the harness's table: its plain pytest parser
    return specs.FALLBACK_PARSER


def resolve_row(row: Mapping[str, Any], defaults: RowDefaults,
                install_config: Mapping[str, Any] | None) -> Resolved:
  """Image, command, parser and evaluation type of one row (see module docstring)."""
  errors: list[str] = []
  instance_id = str(row.get("instance_id") or "")
  repo = str(row.get("repo") or "")
  version = row.get("version")
  version = "" if version is None else str(version)
  install = install_config or {}

  image = next((row[k] for k in ("image", "docker_image", "image_name")
                if isinstance(row.get(k), str) and row[k].strip()), "")
  if not image:
    image = defaults.image or image_name(instance_id, defaults.image_namespace
                                         or DEFAULT_NAMESPACE)
  if not row.get("repo_snapshot") and (defaults.image_namespace or defaults.image_template):
    image = mirror_image(image, instance_id, repo, defaults.image_namespace,
                         defaults.image_template)  # template checked once, by the loader

  own_parser = row.get("log_parser") or install.get("log_parser") or defaults.log_parser
  script = row.get("eval_script") or ""
  test_cmd = ""
  parser = own_parser
  if not isinstance(script, str):
    errors.append(f"field eval_script: expected a string, got {type(script).__name__}")
    script = ""
  if script:
    try:
      test_cmd = _display_cmd(script)
    except ValueError as e:
      errors.append(f"field eval_script: {e}")
  elif row.get("test_cmd") or defaults.test_cmd:
    own = row.get("test_cmd") or defaults.test_cmd
    commands = _text_list(own)
    if not commands:
      errors.append("field test_cmd: expected a non-empty string or list of strings")
    else:
      test_cmd = " && ".join(commands)
      if not row.get("test_cmd") and TEST_FILES not in test_cmd:
        test_cmd = f"{test_cmd} {TEST_FILES}"  # the harness appends the test files
    # swejax's own rows keep the "pytest" alias; a mirror's command keeps the repo's parser
    parser = own_parser or ("pytest" if row.get("test_cmd") else repo_parser(repo))
  else:
    spec = _rebench_spec(install, errors) if install else None
    if spec is None and not errors:
      try:
        spec = specs.spec_for(repo, version)
      except specs.UnknownVersion as e:
        errors.append(f"field version: {e} (or give test_cmd)")
    if spec is not None:
      base = str(row.get("base_commit") or "")
      test_patch = row.get("test_patch") or ""
      test_patch = test_patch if isinstance(test_patch, str) else ""
      script = specs.eval_script_for(spec, repo, base, test_patch,
                                     str(row.get("workdir") or defaults.workdir))
      test_cmd = _display_cmd(script)
    parser = own_parser or repo_parser(repo)

  eval_type = row.get("eval_type") or "pass_and_fail"
  if eval_type not in EVAL_TYPES:
    errors.append(f"field eval_type: expected one of {EVAL_TYPES}, got {eval_type!r}")
  return Resolved(image=image, test_cmd=test_cmd, eval_script=script, log_parser=parser,
                  eval_type=eval_type, errors=tuple(errors))


def _wrap(setup: list[str], test: list[str]) -> str:
  """Set-up output to ENV_LOG; the test output between the harness's markers."""
  body = "\n".join(test)
  prelude = ("{\n" + "\n".join(setup) + f"\n}} > {ENV_LOG} 2>&1\n") if setup else ""
  return (f"set -o pipefail\n{prelude}"
          f"echo '{specs.START_TEST_OUTPUT}'\n{body}\n"
          f"{specs.TEST_EXIT_CODE_VAR}=$?\n"
          f"echo '{specs.END_TEST_OUTPUT}'\n"
          f"echo \"{specs.TEST_EXIT_CODE}: ${specs.TEST_EXIT_CODE_VAR}\"\n"
          f"exit ${specs.TEST_EXIT_CODE_VAR}\n")


def test_command(task: Task) -> str:
  """The shell text the grader runs after it reset test files and applied test_patch.

  Its exit status is the test command's own; its stdout is the test log
  between the harness's start/end markers, then `>>>>> Test Exit Code: N`.
  The set-up (conda activation, eval_commands, re-install) writes to ENV_LOG.
  The test_patch is never applied here.
  """
  if task.eval_script:
    setup, test = script_parts(task.eval_script)
    return _wrap(setup, test)
  files = " ".join(shlex.quote(p) for p in patches.test_files(task.test_patch))
  return _wrap([], [task.test_cmd.replace(TEST_FILES, files)])


def split_test_output(output: str) -> tuple[str, int | None]:
  """(the log between the markers, the recorded test exit code or None).

  Without both markers the whole output is returned, as the harness falls back.
  """
  # The first start marker and the last end/exit lines are ours: the set-up
  # prints nothing, and a test can print lookalikes only in between.
  codes = re.findall(rf"^{re.escape(specs.TEST_EXIT_CODE)}:\s*(-?\d+)\s*$", output, re.M)
  exit_code = int(codes[-1]) if codes else None
  if specs.START_TEST_OUTPUT in output and specs.END_TEST_OUTPUT in output:
    output = output.split(specs.START_TEST_OUTPUT, 1)[1].rsplit(specs.END_TEST_OUTPUT, 1)[0]
  return output, exit_code
