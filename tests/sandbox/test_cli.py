"""`swejax sandbox ...`: one JSON object per command, clear errors."""
from __future__ import annotations

import json

import pytest

from swejax.sandbox.cli import main as cli_main


def _report(capsys) -> dict:
  return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.docker
def test_cli_reap_prints_json(capsys):
  assert cli_main(["reap"]) == 0
  report = _report(capsys)
  assert set(report["removed"]) == {"docker", "local"}


@pytest.mark.docker
def test_cli_setup_is_idempotent_and_reports(capsys):
  assert cli_main(["setup", "--no-bubblewrap"]) == 0
  report = _report(capsys)
  assert report["base_image"] == "swejax/base:bookworm" and report["docker_host"]
  assert report["engine_started"] is False and report["image_built"] is False


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cli_run_in_a_local_sandbox(capsys, bubblewrap):
  assert cli_main(["run", "--backend", "local", "--", "echo", "hi", "&&", "exit", "3"]) == 1
  report = _report(capsys)
  assert report["isolation"] == "bubblewrap"
  assert (report["output"], report["exit_code"], report["timed_out"]) == ("hi\n", 3, False)


def test_cli_errors_are_reported_not_raised(capsys):
  assert cli_main(["run", "--backend", "local", "--image", "other:1", "--", "true"]) == 1
  assert "cannot run image" in _report(capsys)["error"]
  with pytest.raises(SystemExit):
    cli_main(["nonsense"])
