"""AgentEnv: the environment side of one episode (the scaffold around a Sandbox).

    env = AgentEnv(sandbox, task.problem_statement, max_turns=40)
    obs = env.reset()                      # o_0: the issue, ending with the prompt line
    while not env.done:
      result = env.step(model_response)    # parse, run, observe
    patch = env.patch()                    # git diff against the base commit

Every action counts as a turn, format errors included (|tau| in the paper). The
context budget is the rollout loop's business: it knows token counts, asks
`max_observation_chars` for the worst case of the next observation, and ends the
episode with `terminate("context")`. SandboxError propagates: it is an
infrastructure failure, never the agent's.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import json
import secrets

from swejax.agent import prompts, shell
from swejax.agent.parser import parse_action
from swejax.sandbox.base import Sandbox, SandboxError

DEFAULT_ROOT = "/tmp/swejax"
_INTERNAL_TIMEOUT = 120.0
_PROMPT_LINE_SLACK = 4096  # a prompt line with long paths, plus exit-status lines


@dataclasses.dataclass(frozen=True)
class StepResult:
  observation: str
  done: bool
  format_error: bool
  submitted: bool
  command: str | None
  exit_code: int | None  # None when nothing ran (format error)
  timed_out: bool


def tools_source() -> str:
  """The text of the program that implements the special commands."""
  return (importlib.resources.files("swejax.agent") / "tools" / shell.TOOL_FILE).read_text()


class AgentEnv:
  """One episode's environment: tools installed in a sandbox, turns counted."""

  def __init__(self, sandbox: Sandbox, problem_statement: str, *, max_turns: int = 40,
               max_output_chars: int = 10_000, command_timeout: float = 120.0,
               window: int = 100, repo_dir: str | None = None,
               scaffold_dir: str = DEFAULT_ROOT, system_prompt: str = "full"):
    if not isinstance(max_turns, int) or max_turns < 1:
      raise ValueError(f"max_turns: expected an int >= 1, got {max_turns!r}")
    if not isinstance(max_output_chars, int) or max_output_chars < 200:
      raise ValueError(f"max_output_chars: expected an int >= 200, got {max_output_chars!r}")
    if not command_timeout > 0:
      raise ValueError(f"command_timeout: expected a positive number, got {command_timeout!r}")
    if not isinstance(window, int) or window < 5:
      raise ValueError(f"window: expected an int >= 5, got {window!r}")
    if system_prompt not in prompts.SYSTEM_PROMPTS:
      raise ValueError(f"system_prompt: expected one of {sorted(prompts.SYSTEM_PROMPTS)}, "
                       f"got {system_prompt!r}")
    self.system_prompt_style = system_prompt
    if not scaffold_dir.startswith("/"):
      raise ValueError(f"scaffold_dir: expected an absolute path, got {scaffold_dir!r}")
    self._sandbox = sandbox
    self._problem = problem_statement
    self.max_turns = max_turns
    self.max_output_chars = max_output_chars
    self.command_timeout = float(command_timeout)
    self.window = window
    self._repo_dir = repo_dir
    self._layout = shell.Layout(scaffold_dir.rstrip("/") or "/")
    self._nonce = secrets.token_hex(8)  # the agent cannot forge the state marker line
    self._python = ""
    self._executable = True
    self._base_commit = ""
    self._repo = ""
    self._state: shell.ShellState | None = None
    self.turns = 0
    self.format_errors = 0
    self.timeouts = 0
    self.termination: str | None = None  # "submit", "max_turns" or what terminate() got

  # -- set-up -----------------------------------------------------------------

  def reset(self) -> str:
    """Installs the tools, records the base commit, returns o_0 (the issue text)."""
    if self._state is not None:
      raise RuntimeError("AgentEnv.reset() was already called; use a new AgentEnv per episode")
    probe = self._run_internal(shell.probe_script(self._layout, self._repo_dir), "probe")
    found = shell.parse_probe(probe.output)
    if probe.exit_code != 0 or not found.get("cwd"):
      where = self._repo_dir or "the sandbox's working directory"
      raise SandboxError(f"scaffold set-up failed in {where} (exit {probe.exit_code}): "
                         f"{probe.output[-500:]}")
    if not found.get("python"):
      raise SandboxError("no python3 >= 3.6 in the sandbox: the scaffold's commands need one")
    repo = found.get("toplevel") or ""
    if not repo or not found.get("head"):
      raise ValueError(f"{found['cwd']} is not a git repository with a commit: the episode's "
                       "patch is a git diff against the base commit")
    root = self._layout.root
    if root == repo or root.startswith(repo.rstrip("/") + "/"):
      raise ValueError(f"scaffold_dir {root} lies inside the repository {repo}: its state "
                       "files would leak into the patch")
    self._python, self._base_commit, self._repo = found["python"], found["head"], repo
    source = tools_source().replace("#!/usr/bin/env python3", f"#!{self._python} -I", 1)
    self._sandbox.write_file(self._layout.tool, source, mode=0o755)
    install = self._run_internal(shell.install_script(self._layout, found["cwd"], self.window),
                                 "install")
    if install.exit_code != 0 or "exec=" not in install.output:
      raise SandboxError(f"installing the scaffold's commands failed: {install.output[-500:]}")
    self._executable = "exec=yes" in install.output
    self._state = shell.ShellState(cwd=found["cwd"], open_file=None, line=1, submitted=False)
    return prompts.first_message(self._problem, found["cwd"])

  def system_prompt(self) -> str:
    return prompts.system_prompt(window=self.window, command_timeout=self.command_timeout,
                                 style=self.system_prompt_style)

  # -- the episode ------------------------------------------------------------

  @property
  def done(self) -> bool:
    return self.termination is not None

  @property
  def cwd(self) -> str:
    return self._require_state().cwd

  @property
  def open_file(self) -> str | None:
    return self._require_state().open_file

  @property
  def base_commit(self) -> str:
    self._require_state()
    return self._base_commit

  @property
  def max_observation_chars(self) -> int:
    """An upper bound on the characters of an observation (paths in the prompt < 2 KiB each)."""
    return self.max_output_chars + 200 + _PROMPT_LINE_SLACK

  def step(self, action_text: str) -> StepResult:
    """One turn: parse the action; on a format error say so, else run it in the sandbox."""
    state = self._require_state()
    if self.done:
      raise RuntimeError(f"the episode is over ({self.termination}); no more steps")
    self.turns += 1
    parsed = parse_action(action_text)
    if parsed.command is None:
      self.format_errors += 1
      obs = prompts.render_format_error(parsed.error or "", cwd=state.cwd,
                                        open_file=state.open_file)
      self._end_if_out_of_turns()
      return StepResult(obs, self.done, True, False, None, None, False)

    script = shell.wrap(parsed.command, self._layout, self._nonce, python=self._python,
                        executable=self._executable)
    result = self._sandbox.run(script, timeout=self.command_timeout)
    output, marked, cwd = shell.split_marker(result.output, self._nonce)
    if marked is None:
      marked, cwd = self._read_state_files()
    state = self._state = shell.state_from(marked, cwd, state)
    if result.timed_out:
      self.timeouts += 1
    obs = prompts.render_observation(
        output, exit_code=result.exit_code, timed_out=result.timed_out,
        timeout=self.command_timeout, cwd=state.cwd, open_file=state.open_file,
        max_chars=self.max_output_chars, already_cut=result.cut_chars)
    if state.submitted:
      self.termination = "submit"
    else:
      self._end_if_out_of_turns()
    return StepResult(obs, self.done, False, state.submitted, parsed.command, result.exit_code,
                      result.timed_out)

  def terminate(self, reason: str) -> None:
    """Ends the episode from outside (e.g. "context" when the next turn would not fit)."""
    if not self.done:
      self.termination = reason

  def patch(self) -> str:
    """`git diff` of the repository against the base commit, new files included."""
    self._require_state()
    out = f"{self._layout.state}/model.patch"
    result = self._run_internal(
        shell.patch_script(self._layout, self._repo, self._base_commit, out), "patch")
    if result.exit_code != 0:
      raise SandboxError(f"computing the patch failed (exit {result.exit_code}): "
                         f"{result.output[-500:]}")
    return self._sandbox.read_file(out).decode("utf-8", "surrogateescape")

  # -- internals --------------------------------------------------------------

  def _require_state(self) -> shell.ShellState:
    if self._state is None:
      raise RuntimeError("call AgentEnv.reset() first")
    return self._state

  def _end_if_out_of_turns(self) -> None:
    if self.turns >= self.max_turns and not self.done:
      self.termination = "max_turns"

  def _run_internal(self, script: str, what: str):
    result = self._sandbox.run(script, timeout=_INTERNAL_TIMEOUT)
    if result.timed_out:
      raise SandboxError(f"the scaffold's {what} step timed out after {_INTERNAL_TIMEOUT:g} s")
    return result

  def _read_state_files(self) -> tuple[dict | None, str | None]:
    """The state when the marker line was lost (timeout, closed stdout)."""
    try:
      state = json.loads(self._sandbox.read_file(self._layout.state_json).decode())
      cwd = self._sandbox.read_file(self._layout.cwd_file).decode().strip("\n")
    except (SandboxError, OSError, ValueError, UnicodeDecodeError):
      return None, None
    return (state if isinstance(state, dict) else None), (cwd or None)
