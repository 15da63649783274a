"""`python -m swejax.bench.sampler` end to end on the tiny preset: both samplers, a float32
vLLM server for the decode comparison, then a bfloat16 one for the headline weight sync."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
@pytest.mark.vllm
def test_sampler_bench_reports_both_samplers_and_the_sync_on_both_servers():
  if not os.path.exists(os.path.join(REPO, ".venv-vllm", ".swejax-vllm-installed")):
    subprocess.run(["bash", os.path.join(REPO, "launch", "setup_vllm.sh")], check=True)
  out = subprocess.run(
      [sys.executable, "-m", "swejax.bench.sampler", "--preset=tiny", "--episodes=2",
       "--turns=2", "--repeats=1", "--syncs=3", "--prompt_len=32", "--turn_tokens=8",
       "--obs_tokens=8", "--max_len=1024", "--vllm_eager"],
      capture_output=True, text=True, timeout=1500, cwd=REPO)
  assert out.returncode == 0, out.stderr[-3000:]
  r = json.loads(out.stdout.strip().splitlines()[-1])
  assert r["preset"] == "tiny" and r["jax_tokens_per_s"] > 0 and r["vllm_tokens_per_s"] > 0
  ratio = r["jax_tokens_per_s"] / r["vllm_tokens_per_s"]  # of rounded figures
  assert r["ratio_vs_vllm"] == pytest.approx(ratio, rel=0.02)
  assert r["sync_server_dtype"] == "bfloat16" and r["weight_loader"] == "swejax"
  assert len(r["weight_sync_runs_s"]) == 3 + 2 and len(r["disk_write_fsync_runs_s"]) == 3
  for suffix in ("", "_float32_server"):
    sync, disk = r["weight_sync_s" + suffix], r["disk_write_fsync_s" + suffix]
    assert 0 < sync and 0 < disk
    assert r["ratio_vs_disk_write_fsync" + suffix] == pytest.approx(disk / sync, rel=0.02)
  assert r["weight_bytes"] > 0 and r["weight_server_pack_s"] > 0
