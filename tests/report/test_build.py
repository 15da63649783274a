"""The report's files from a run's workdir: the index, the episode chunks, the CLI."""
import json
import os
import re

import pytest

from swejax import cli
from swejax.bench import report as bench
from swejax.report import build, data


def _load(path: str, call: str):
  text = open(path, encoding="utf-8").read()
  m = re.fullmatch(re.escape(call) + r"\((.*)\);\n", text, re.S)
  assert m, f"{path} is not a {call}(...) call"
  return json.loads("[" + m.group(1) + "]")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  return bench.synthetic_run(str(tmp_path_factory.mktemp("run")), 300)


def test_report_splits_episodes_into_chunks_loaded_on_demand(run, tmp_path):
  index = build.write_report([run], str(tmp_path / "rep"))
  assert os.path.basename(index) == "index.html"
  (idx,) = _load(str(tmp_path / "rep" / "data" / "index.js"), "SWEJAX.index")
  r = idx["runs"][0]
  assert r["episodes"]["n"] == 300 and len(r["episodes"]["reward"]) == 300
  assert "steps" not in json.dumps(r["episodes"])  # turns live in the chunks only
  chunks = sorted(os.listdir(tmp_path / "rep" / "data" / "r0"))
  assert len(chunks) == -(-300 // build.CHUNK)
  _, n, eps = _load(str(tmp_path / "rep" / "data" / "r0" / "c1.js"), "SWEJAX.chunk")
  assert n == 1 and len(eps) == build.CHUNK and eps[0]["steps"][0]["action"]
  assert r["table"][0]["name"] == "final" and r["table"][0]["pass@1"] == 0.3
  assert [c["label"] for c in r["matrix"]["columns"]] == [f"dapo_{i}" for i in range(1, 4)]


def test_matrix_merges_iterations_beyond_its_columns():
  eps = [{"stage": "eval_base", "iteration": 0, "task": "a", "resolved": True}]
  eps += [{"stage": "dapo", "iteration": i, "task": "a", "resolved": i % 2 == 0}
          for i in range(1, 101)]
  m = data.solved_matrix(eps, max_columns=11)
  labels = [c["label"] for c in m["columns"]]
  assert labels[0] == "eval_base_0" and labels[1] == "dapo_1-10" and len(labels) == 11
  assert m["cells"]["a"]["dapo_1-10"] == [5, 10] and m["cells"]["a"]["eval_base_0"] == [1, 1]


def test_table_counts_tasks_and_runs_from_the_evaluations_episodes():
  table = [{"name": "base", "pass@1": 0.5, "tasks": None}]
  eps = [{"stage": "eval_base", "task": t, "group": g} for t in "ab" for g in range(3)]
  assert data.with_eval_counts(table, eps)[0] == {"name": "base", "pass@1": 0.5, "tasks": 2,
                                                  "runs": 3}


def test_advantages_are_the_learners_group_advantages():
  rows = [{"stage": "dapo", "iteration": 1, "task_id": "a", "reward": r} for r in (1, 0, 0, 1)]
  rows.append({"stage": "eval_x", "iteration": 0, "task_id": "a", "reward": 1.0})
  adv = data.advantages(rows)
  assert adv[4] is None and adv[0] == pytest.approx(0.866, abs=1e-3) and adv[0] == -adv[1]


def test_a_torn_last_line_is_skipped(tmp_path):
  os.makedirs(tmp_path / "trajectories")
  line = json.dumps(bench.synthetic_episode(__import__("random").Random(0), "rft", 0, "t", 0))
  (tmp_path / "trajectories" / "rft_0.jsonl").write_text(line + "\n" + line[:50])
  assert len(data.read_episodes(str(tmp_path))) == 1


def test_cli_writes_one_run_and_compares_two(run, tmp_path, capsys):
  other = bench.synthetic_run(str(tmp_path / "other"), 120)
  assert cli.main(["report", run, "--out", str(tmp_path / "one")]) == 0
  assert "index.html" in capsys.readouterr().out
  assert cli.main(["report", run, other, "--out", str(tmp_path / "two")]) == 0
  (idx,) = _load(str(tmp_path / "two" / "data" / "index.js"), "SWEJAX.index")
  assert [r["episodes"]["n"] for r in idx["runs"]] == [300, 120]
  assert os.path.exists(tmp_path / "two" / "data" / "r1" / "c0.js")
  assert cli.main(["report", run, other]) == 2  # two runs need --out
  assert cli.main(["report", str(tmp_path / "nothing")]) == 2
  assert "is not a directory" in capsys.readouterr().err


def test_rebuild_removes_chunks_of_a_longer_earlier_build(run, tmp_path):
  out = str(tmp_path / "rep")
  build.write_report([run], out)
  small = bench.synthetic_run(str(tmp_path / "small"), 60)
  build.write_report([small], out)
  assert sorted(os.listdir(os.path.join(out, "data", "r0"))) == ["c0.js", "c1.js"]
