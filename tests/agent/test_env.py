"""AgentEnv: shell state across turns, observations, termination, counts and the patch."""
import subprocess

import pytest

from agent.conftest import LocalProcessSandbox, make_repo
from swejax.agent import AgentEnv, format_action
from swejax.agent import shell

FILES = {"app/main.py": "def answer():\n    return 41\n", "README": "hello\n"}


@pytest.fixture
def ep(make_episode):
  return make_episode(FILES)


def prompt(cwd, file="n/a"):
  return f"(Current directory: {cwd}, current file: {file}) bash-$"


def test_first_observation_is_the_issue_with_the_prompt_line(make_episode):
  ep = make_episode(FILES, problem="answer() returns 41 instead of 42.")
  assert "<issue>\nanswer() returns 41 instead of 42.\n</issue>" in ep.first_observation
  assert ep.first_observation.endswith("\n" + prompt(ep.repo))
  assert ep.env.cwd == ep.repo and ep.env.turns == 0


def test_cwd_persists_between_commands(ep):
  r = ep.act("cd app")
  assert r.observation.endswith(prompt(f"{ep.repo}/app"))
  assert ep.act("pwd").observation.startswith(f"{ep.repo}/app\n")
  assert "def answer" in ep.act("cat main.py").observation  # relative to the new cwd
  failed = ep.act("cd /does/not/exist")
  assert failed.exit_code != 0
  assert failed.observation.endswith(prompt(f"{ep.repo}/app"))


def test_cwd_is_saved_even_when_the_command_exits_or_closes_stdout(ep):
  r = ep.act("cd app && exit 3")
  assert r.exit_code == 3 and "(Exit code: 3)" in r.observation
  assert ep.env.cwd == f"{ep.repo}/app"
  ep.act("cd .. ; exec > /dev/null")  # no marker line: the state files are read instead
  assert ep.env.cwd == ep.repo


def test_exported_variables_persist_and_plain_ones_do_not(ep):
  ep.act("export GREETING='hi there' && LOCAL=1")
  r = ep.act('echo "[$GREETING] [$LOCAL]"')
  assert r.observation.startswith("[hi there] []\n")


def test_observation_formats(ep):
  ok = ep.act("true")
  assert ok.observation == ("Your command ran successfully and did not produce any output.\n"
                            + prompt(ep.repo))
  failed = ep.act("echo oops >&2; exit 2")
  assert failed.observation == "oops\n(Exit code: 2)\n" + prompt(ep.repo)
  assert failed.exit_code == 2 and not failed.format_error and failed.command is not None


def test_commands_get_no_stdin(ep):
  r = ep.act("cat; echo done")  # would hang if stdin were open
  assert r.observation.startswith("done\n")


def test_long_output_keeps_head_and_tail_and_counts_the_cut(make_episode):
  ep = make_episode(FILES, max_output_chars=1000)
  r = ep.act("python3 -c \"print('H' * 600 + 'x' * 5000 + 'T' * 600)\"")
  total = 600 + 5000 + 600 + 1  # with the newline
  assert r.observation.startswith("H" * 500)
  assert f"[... {total - 1000} characters cut from the middle of the output ...]" in r.observation
  assert "T" * 499 + "\n" + prompt(ep.repo) in r.observation


def test_sandbox_cut_is_added_to_the_reported_count(tmp_path):
  repo = make_repo(tmp_path / "repo", FILES)
  sandbox = LocalProcessSandbox(str(repo), head=3000, tail=3000)
  env = AgentEnv(sandbox, "x", max_output_chars=1000, scaffold_dir=str(tmp_path / "s"))
  env.reset()
  r = env.step(format_action("", "python3 -c \"print('a' * 20000)\""))
  assert "[... 19001 characters cut from the middle of the output ...]" in r.observation


def test_timeout_is_reported_counted_and_the_shell_recovers(make_episode):
  ep = make_episode(FILES, command_timeout=1.0)
  ep.act("cd app")
  r = ep.act("sleep 30")
  assert r.timed_out and ep.env.timeouts == 1
  assert "(Command timed out after 1 seconds and was killed.)" in r.observation
  assert r.observation.endswith(prompt(f"{ep.repo}/app"))
  assert ep.act("pwd").observation.startswith(f"{ep.repo}/app\n")


def test_format_error_is_counted_is_a_turn_and_runs_nothing(ep):
  ep.act("open app/main.py")
  r = ep.env.step("I will now look at the file, no block here.")
  assert r.format_error and r.command is None and r.exit_code is None and not r.done
  assert r.observation.startswith("Format error: no ```command block found.")
  assert r.observation.endswith(prompt(ep.repo, f"{ep.repo}/app/main.py"))
  assert ep.env.format_errors == 1 and ep.env.turns == 2


def test_format_errors_run_nothing_in_the_sandbox(tmp_path):
  repo = make_repo(tmp_path / "repo", FILES)
  sandbox = LocalProcessSandbox(str(repo))
  env = AgentEnv(sandbox, "x", scaffold_dir=str(tmp_path / "s"))
  env.reset()
  before = len(sandbox.commands)
  env.step("```command\ntouch SHOULD_NOT_EXIST\n```\n```command\nls\n```")
  assert len(sandbox.commands) == before and not (repo / "SHOULD_NOT_EXIST").exists()


def test_episode_ends_at_max_turns(make_episode):
  ep = make_episode(FILES, max_turns=3)
  assert not ep.act("ls").done
  assert not ep.env.step("no block").done
  last = ep.act("ls")
  assert last.done and not last.submitted and ep.env.termination == "max_turns"
  with pytest.raises(RuntimeError, match="episode is over"):
    ep.act("ls")


def test_submit_ends_the_episode_even_inside_a_compound_command(ep):
  r = ep.act("python3 -c 'print(1)' && submit")
  assert r.done and r.submitted and ep.env.termination == "submit"
  assert ep.env.turns == 1


def test_terminate_from_the_rollout_loop(ep):
  ep.act("ls")
  ep.env.terminate("context")
  assert ep.env.done and ep.env.termination == "context"
  ep.env.terminate("max_turns")  # the first reason stays
  assert ep.env.termination == "context"
  assert ep.env.max_observation_chars >= ep.env.max_output_chars


def test_patch_includes_new_files_and_excludes_state_and_caches(ep):
  ep.act("open app/main.py")
  ep.act("edit 2:2 << 'EOF'\n    return 42\nEOF")
  ep.act("create app/util.py << 'EOF'\nX = 1\nEOF")
  ep.act("python3 -c 'import sys; sys.path.insert(0, \"app\"); import util' && "
         "python3 -m py_compile app/util.py && mkdir -p .pytest_cache && touch .pytest_cache/x")
  assert "__pycache__" in ep.act("find . -name '*.pyc'").observation  # caches exist
  patch = ep.env.patch()
  assert "+    return 42" in patch and "-    return 41" in patch
  assert "diff --git a/app/util.py b/app/util.py\nnew file mode" in patch
  for leaked in ("__pycache__", ".pyc", ".pytest_cache", "state.json", "no-stdin", "swejax"):
    assert leaked not in patch
  # The agent's own index is untouched: the new file is still untracked for it.
  assert "?? app/util.py" in ep.act("git status --porcelain").observation


def test_patch_applies_to_the_base_and_survives_agent_commits(ep, tmp_path):
  ep.act("open README")
  ep.act("edit 1:1 << 'EOF'\nhello world\nEOF")
  ep.act("git -c user.name=a -c user.email=a@a commit -qam wip && echo new > NEW.txt")
  patch = ep.env.patch()
  assert "+hello world" in patch and "+new" in patch
  clone = tmp_path / "clone"
  base = make_repo(clone, FILES)
  subprocess.run(["git", "apply", "-"], input=patch, text=True, cwd=base, check=True)
  assert (base / "README").read_text() == "hello world\n"
  assert (base / "NEW.txt").read_text() == "new\n"


def test_empty_patch_when_nothing_changed(ep):
  ep.act("ls && cat README")
  assert ep.env.patch() == ""


def test_scaffold_dir_inside_the_repo_is_refused(tmp_path):
  repo = make_repo(tmp_path / "repo", FILES)
  env = AgentEnv(LocalProcessSandbox(str(repo)), "x", scaffold_dir=str(repo / ".swejax"))
  with pytest.raises(ValueError, match="inside the repository"):
    env.reset()


def test_not_a_git_repository_is_a_clear_error(tmp_path):
  (tmp_path / "plain").mkdir()
  env = AgentEnv(LocalProcessSandbox(str(tmp_path / "plain")), "x",
                 scaffold_dir=str(tmp_path / "s"))
  with pytest.raises(ValueError, match="not a git repository"):
    env.reset()


@pytest.mark.parametrize("kwargs, field", [
    ({"max_turns": 0}, "max_turns"), ({"max_output_chars": 10}, "max_output_chars"),
    ({"command_timeout": 0}, "command_timeout"), ({"window": 1}, "window"),
    ({"scaffold_dir": "relative/dir"}, "scaffold_dir"),
])
def test_bad_settings_name_the_field(kwargs, field):
  with pytest.raises(ValueError, match=field):
    AgentEnv(LocalProcessSandbox("/"), "x", **kwargs)


def test_step_before_reset_is_an_error(tmp_path):
  env = AgentEnv(LocalProcessSandbox(str(tmp_path)), "x", scaffold_dir=str(tmp_path / "s"))
  with pytest.raises(RuntimeError, match="reset"):
    env.step("```command\nls\n```")


def test_tools_run_through_the_interpreter_when_bin_is_not_executable(tmp_path):
  """The fallback for a noexec /tmp: shell functions that call python3 explicitly."""
  repo = make_repo(tmp_path / "repo", FILES)
  env = AgentEnv(LocalProcessSandbox(str(repo)), "x", scaffold_dir=str(tmp_path / "s"))
  env.reset()
  layout = shell.Layout(str(tmp_path / "s"))
  for name in shell.TOOL_NAMES:
    (tmp_path / "s" / "bin" / name).unlink()
  (tmp_path / "s" / "bin" / shell.TOOL_FILE).chmod(0o644)
  script = shell.wrap("open app/main.py && bash -c 'goto 2'", layout, "n0nce",
                      python="python3", executable=False)
  out = subprocess.run(["bash", "-c", script], cwd=repo, capture_output=True, text=True)
  assert out.returncode == 0, out.stdout + out.stderr
  assert "1:def answer():" in out.stdout and "<<swejax-state:n0nce>>" in out.stdout


def test_repo_dir_below_the_sandbox_workdir(tmp_path):
  make_repo(tmp_path / "work" / "repo", FILES)
  env = AgentEnv(LocalProcessSandbox(str(tmp_path / "work")), "x",
                 repo_dir=str(tmp_path / "work" / "repo"), scaffold_dir=str(tmp_path / "s"))
  assert env.reset().endswith(prompt(str(tmp_path / "work" / "repo")))
  env.step(format_action("", "echo changed >> README"))
  assert "+changed" in env.patch()


def test_a_deleted_cwd_falls_back_with_a_note(ep):
  ep.act("mkdir gone && cd gone")
  r = ep.act("rmdir ../gone; ls ..")
  assert "no longer exists" not in r.observation
  r = ep.act("pwd")
  assert "no longer exists; the command runs in" in r.observation


def test_a_syntax_error_shows_the_agents_line_only(ep):
  """bash quotes the line of a syntax error: it must be the agent's, without the scaffold's
  preamble or its nonce (random per episode, it would make observations differ between
  runs of the same seed), and the state marker still comes back."""
  ep.act("cd app")
  r = ep.act("echo done )")
  assert "syntax error" in r.observation and "`echo done )'" in r.observation
  assert "swejax" not in r.observation, r.observation
  r = ep.act("replace 'a(b` 'c'")  # unbalanced quotes, as a model writes them
  assert r.exit_code == 2 and "swejax" not in r.observation, r.observation
  r = ep.act("echo one\nif then")  # quoted: the agent's second line, alone
  assert "`if then'" in r.observation and "swejax" not in r.observation, r.observation
  assert ep.env.cwd.endswith("/app")
