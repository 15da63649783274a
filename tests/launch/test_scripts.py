"""The launch scripts: shellcheck-clean, and their dry and (stubbed) live runs agree."""
import os
import pathlib
import shlex
import shutil
import stat
import subprocess

import pytest

LAUNCH = pathlib.Path(__file__).resolve().parents[2] / "launch"
STAGE2 = "configs/dapo_qwen2_5_72b.py:stage2"


def _run(args, env=None, check=True):
  out = subprocess.run(["bash", *map(str, args)], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **(env or {})})
  if check and out.returncode:
    raise AssertionError(f"{args} failed ({out.returncode}): {out.stderr}")
  return out


def _stub(bin_dir: pathlib.Path, name: str, body: str) -> None:
  """A fake command that appends its argv (one shell-quoted line) to $STUB_LOG."""
  path = bin_dir / name
  path.write_text("#!/usr/bin/env bash\n"
                  f'printf "{name}" >>"$STUB_LOG"; printf " %q" "$@" >>"$STUB_LOG"; '
                  f'echo >>"$STUB_LOG"\n{body}\n')
  path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _calls(log: pathlib.Path) -> list[list[str]]:
  return [shlex.split(line) for line in log.read_text().splitlines()]


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck is not installed (apt-get install -y shellcheck)")
@pytest.mark.parametrize("script", sorted(p.name for p in LAUNCH.glob("*.sh")))
def test_shellcheck(script):
  out = subprocess.run(["shellcheck", "-x", str(LAUNCH / script)], capture_output=True,
                       text=True, timeout=60, cwd=LAUNCH.parent)
  assert out.returncode == 0, out.stdout + out.stderr


def test_tpu_pod_dry_run_shows_every_worker():
  out = _run([LAUNCH / "tpu_pod.sh", "--tpu", "pod", "--zone", "us-east5-a", "--config", STAGE2,
              "--workdir", "gs://bucket/run", "--docker-host", "tcp://10.0.0.9:2376",
              "--num-workers", "4", "--dry-run", "--", "--config.rl.iterations=2"]).stdout
  lines = out.splitlines()
  ssh = [ln for ln in lines if ln.startswith("gcloud compute tpus tpu-vm ssh pod --worker=all")]
  assert len(ssh) == 1 and "--zone=us-east5-a" in ssh[0]
  workers = [ln for ln in lines if ln.startswith("[worker ")]
  assert [w.split("]")[0] for w in workers] == [f"[worker {i} of 4" for i in range(4)]
  for w in workers:
    assert f"swejax train --config={STAGE2} --config.mesh.distributed=true" in w
    assert "--workdir=gs://bucket/run --config.rl.iterations=2" in w
    assert "DOCKER_HOST=tcp://10.0.0.9:2376" in w


def test_tpu_pod_live_run_passes_the_command_intact(tmp_path):
  """With a stub gcloud: the --command string that reaches the workers, run by a shell,
  gives `swejax train` exactly the arguments asked for (quoting survives)."""
  _stub(tmp_path, "gcloud", "")
  log = tmp_path / "calls.log"
  env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "STUB_LOG": str(log)}
  odd = "--config.name=it's a run"
  _run([LAUNCH / "tpu_pod.sh", "--tpu", "pod", "--zone", "z", "--project", "p", "--config", STAGE2,
        "--install", "--", odd], env=env)
  install, train = _calls(log)
  assert install[:7] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "pod", "--worker=all"]
  assert "--project=p" in train and "--zone=z" in train
  command = next(a for a in train if a.startswith("--command="))[len("--command="):]
  # What a worker's shell does with it: cd, then our fake python reports its argv.
  (tmp_path / "swejax").mkdir()
  _stub(tmp_path, "python3", "")
  subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True, timeout=30, env={
      **os.environ, **env})
  python = _calls(log)[-1]
  assert python == ["python3", "-m", "swejax", "train", f"--config={STAGE2}",
                    "--config.mesh.distributed=true", odd]


def test_slurm_dry_run_shows_every_node():
  out = _run([LAUNCH / "slurm_gpu.sh", "--nodes", "4", "--gpus-per-node", "8", "--config", STAGE2,
              "--nodelist", "gpu-a,gpu-b,gpu-c,gpu-d", "--port", "23456", "--dry-run"]).stdout
  lines = out.splitlines()
  assert lines[0].startswith("sbatch ") and "--nodes=4" in lines[0]
  assert "--gpus-per-node=8" in lines[0] and "--inside-allocation" in lines[0]
  nodes = [ln for ln in lines if ln.startswith("[gpu-")]
  assert len(nodes) == 4
  for i, (ln, host) in enumerate(zip(nodes, ["gpu-a", "gpu-b", "gpu-c", "gpu-d"])):
    assert ln.startswith(f"[{host} process {i} of 4]")
    assert f"SLURM_PROCID={i}" in ln and "JAX_COORDINATOR_ADDRESS=gpu-a:23456" in ln
    assert "JAX_LOCAL_DEVICE_IDS=0,1,2,3,4,5,6,7" in ln
    assert "--config.mesh.distributed=true" in ln


def test_slurm_live_submits_itself_and_srun_starts_one_process_per_node(tmp_path):
  log = tmp_path / "calls.log"
  for name in ("sbatch", "srun"):
    _stub(tmp_path, name, "")
  _stub(tmp_path, "scontrol", 'printf "n17\\nn18\\nn19\\nn20\\n"')
  env = {"PATH": f"{tmp_path}:{os.environ['PATH']}", "STUB_LOG": str(log)}
  _run([LAUNCH / "slurm_gpu.sh", "--nodes", "4", "--config", STAGE2, "--workdir", "/shared/w",
        "--python", "python3", "--", "--config.rl.iterations=2"], env=env)
  (sbatch,) = _calls(log)
  script = sbatch.index(str(LAUNCH / "slurm_gpu.sh"))
  assert "--nodes=4" in sbatch[:script] and "--ntasks-per-node=1" in sbatch[:script]
  # Now be the batch step: the same script, inside an allocation.
  _run(sbatch[script:], env={**env, "SLURM_JOB_NODELIST": "n[17-20]"})
  srun = _calls(log)[-1]
  assert srun[0] == "srun" and "--nodes=4" in srun and "--ntasks-per-node=1" in srun
  rest = srun[srun.index("env") + 1:]
  assert rest == ["JAX_COORDINATOR_ADDRESS=n17:12345", "JAX_LOCAL_DEVICE_IDS=0,1,2,3,4,5,6,7",
                  "python3", "-m", "swejax", "train", f"--config={STAGE2}",
                  "--config.mesh.distributed=true", "--workdir=/shared/w",
                  "--config.rl.iterations=2"]


@pytest.mark.parametrize("script,args,message", [
    ("tpu_pod.sh", ["--zone", "z", "--config", STAGE2, "--dry-run"], "--tpu is required"),
    ("tpu_pod.sh", ["--tpu", "t", "--zone", "z", "--config", STAGE2, "--docker-host",
                    "ssh://h", "--dry-run"], "unix:// or tcp://"),
    ("slurm_gpu.sh", ["--nodes", "two", "--config", STAGE2, "--dry-run"], "nodes must be"),
    ("slurm_gpu.sh", ["--nodes", "2", "--config", STAGE2, "--bogus"], "unknown flag --bogus"),
])
def test_bad_flags_are_named(script, args, message):
  out = _run([LAUNCH / script, *args], check=False)
  assert out.returncode == 2 and message in out.stderr


def test_vllm_fleet_dry_run_shows_every_server():
  out = _run([LAUNCH / "vllm_fleet.sh", "--model", "ckpt", "-n", "4", "--device", "gpu",
              "--dry-run"]).stdout.splitlines()
  servers = [ln for ln in out if "vllm.entrypoints.openai.api_server" in ln]
  assert len(servers) == 4 and len({s.split("--port ")[1].split()[0] for s in servers}) == 4
  # Every server gets swejax's endpoints; GPU servers keep vLLM's own busy polling.
  assert all("--middleware swejax_endpoints.routes" in s and "vllm_server" in s and
             "SWEJAX_VLLM_BUSY_POLL_S" not in s for s in servers)


@pytest.mark.parametrize("flag, expect", [([], "SWEJAX_VLLM_BUSY_POLL_S=0.001"),
                                          (["--busy-poll-s", "0.05"],
                                           "SWEJAX_VLLM_BUSY_POLL_S=0.05"),
                                          (["--busy-poll-s", "vllm"], None)])
def test_vllm_fleet_cpu_servers_bound_busy_polling(flag, expect):
  out = _run([LAUNCH / "vllm_fleet.sh", "--model", "ckpt", "--device", "cpu", *flag,
              "--dry-run"]).stdout
  assert "--worker-extension-cls swejax_weight_loader.WeightLoaderExtension" in out
  if expect is None:
    assert "SWEJAX_VLLM_BUSY_POLL_S" not in out
  else:
    assert expect in out


def test_vllm_fleet_bad_busy_poll_is_named():
  out = _run([LAUNCH / "vllm_fleet.sh", "--model", "ckpt", "--busy-poll-s", "soon",
              "--dry-run"], check=False)
  assert out.returncode == 2 and "--busy-poll-s" in out.stderr
