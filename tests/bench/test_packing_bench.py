"""`python -m swejax.bench.packing`: reads the run's settings and trajectories, prints JSON."""
import json
import subprocess
import sys

import numpy as np

from swejax.rl.episode import Episode, EpisodeLog


def _write_run(workdir, lengths, seq_len, per_step):
  (workdir / "trajectories").mkdir(parents=True)
  (workdir / "config.json").write_text(json.dumps(
      {"data": {"seq_len": seq_len}, "rl": {"trajectories_per_step": per_step}}))
  log = EpisodeLog(str(workdir / "trajectories" / "dapo_1.jsonl"))
  for i, n in enumerate(lengths):
    log.append(Episode(task_id=f"t{i}", group=0, tokens=[1] * n, loss_mask=[0] * n,
                       logprobs=[0.0] * n, turns=1, termination="submit"))
  (workdir / "trajectories" / "other_0.jsonl").write_text("not read: not a trained stage\n")


def _bench(*args):
  out = subprocess.run([sys.executable, "-m", "swejax.bench.packing", *args],
                       capture_output=True, text=True, check=True)
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_packing_bench_uses_the_runs_settings(tmp_path):
  lengths = np.random.default_rng(0).integers(200, 2000, 128).tolist()
  _write_run(tmp_path, lengths, seq_len=4096, per_step=64)
  r = _bench(f"--workdir={tmp_path}")
  assert (r["seq_len"], r["trajectories_per_step"], r["trajectories"]) == (4096, 64, 128)
  assert r["rows_padding"] == 128
  assert r["packing_efficiency"] == sum(lengths) / (r["rows_packed"] * 4096)
  assert r["padding_efficiency"] == sum(lengths) / (128 * 4096)
  assert r["ratio_vs_padding"] == r["packing_efficiency"] / r["padding_efficiency"]
  assert r["lower_bound_efficiency"] >= r["packing_efficiency"] > 0.9
  assert _bench(f"--workdir={tmp_path}", "--seq_len=8192")["seq_len"] == 8192
