"""`swejax tasks ...` end to end through the top-level dispatcher."""
import json

import pytest

from swejax.cli import main as swejax_main
from swejax.tasks import loader

pytestmark = pytest.mark.filterwarnings("ignore:the local sandbox:RuntimeWarning")


def last_json(capsys):
  out = capsys.readouterr().out.strip().splitlines()
  return json.loads(out[-1])


def test_stats_filter_and_grade(mini_task, tmp_path, capsys, local_ready):
  path = tmp_path / "tasks.jsonl"
  loader.save_tasks([mini_task], path)
  assert swejax_main(["tasks", "stats", "--tasks", str(path)]) == 0
  assert last_json(capsys)["tasks"] == 1
  out = tmp_path / "kept.jsonl"
  assert swejax_main(["tasks", "filter", "--tasks", str(path), "--out", str(out)]) == 0
  assert last_json(capsys) == {"tasks": 1, "kept": 1, "dropped": {}, "out": str(out)}
  patch = tmp_path / "gold.diff"
  patch.write_text(mini_task.patch)
  code = swejax_main(["tasks", "grade", "--tasks", str(path), "--instance", "mini-1",
                      "--patch", str(patch), "--backend", "local"])
  assert code == 0 and last_json(capsys)["resolved"] is True
  code = swejax_main(["tasks", "validate", "--tasks", str(path), "--backend", "local"])
  summary = last_json(capsys)
  assert code == 0 and summary["valid"] == 1 and summary["isolation"] == ["bubblewrap"]


def test_bad_input_is_a_clear_error(tmp_path, capsys):
  bad = tmp_path / "bad.jsonl"
  bad.write_text('{"instance_id": "x"}\n')
  assert swejax_main(["tasks", "stats", "--tasks", str(bad)]) == 2
  err = capsys.readouterr().err
  assert f"{bad}:line 1 (x): field repo: missing" in err
  assert swejax_main(["tasks", "stats", "--tasks", str(tmp_path / "none.jsonl")]) == 2
  assert "task file not found" in capsys.readouterr().err
  assert swejax_main(["tasks", "synth", "--out", str(tmp_path / "o.jsonl"),
                      "--packages", "nope"]) == 2
  assert "--packages: unknown ['nope']" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    swejax_main(["tasks", "validate"])  # argparse names the missing --tasks


def test_synth_writes_jsonl(tmp_path, capsys):
  out = tmp_path / "synth.jsonl"
  assert swejax_main(["tasks", "synth", "--out", str(out), "--n", "1", "--packages", "graphs",
                      "--jobs", "1"]) == 0
  summary = last_json(capsys)
  assert summary["tasks"] == 1 and summary["packages"] == {"graphs": 1}
  task, = loader.load_tasks(out)
  assert task.instance_id == "swejax-synth__graphs-0000"
