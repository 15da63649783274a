"""A learner spread over two processes (4 CPU devices each, gloo collectives): each writes
the rows it holds of one export, which equals a single process's; in a weight sync only
process 0 talks to the servers."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import jax
import pytest

from swejax import model as model_lib
from swejax.sampling import export_hf_weights

pytestmark = pytest.mark.slow

_PROCESS = textwrap.dedent("""
    import sys
    pid, port, out, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    import numpy as np
    from jax.sharding import AxisType, Mesh
    from swejax import model as model_lib
    from swejax.model.sharding import named_shardings
    from swejax.sampling import DiskWeightSync, export_hf_weights

    cfg = model_lib.get_config("tiny", tie_embeddings=False)
    with jax.default_device(jax.local_devices()[0]):
      full = jax.tree.map(np.asarray, jax.jit(model_lib.init_params, static_argnums=0)(
          cfg, jax.random.key(3)))
    mesh = Mesh(np.array(jax.devices()).reshape(1, 4, 1, 2),
                ("data", "fsdp", "context", "tensor"), axis_types=(AxisType.Auto,) * 4)
    shardings = named_shardings(model_lib.param_axes(cfg), mesh, cfg.rules)
    params = jax.tree.map(
        lambda x, s: jax.make_array_from_callback(x.shape, s, lambda i: x[i]), full, shardings)
    assert not params["layers"]["mlp"]["up_kernel"].is_fully_addressable  # over both hosts
    export_hf_weights(params, cfg, out + "/sharded")
    DiskWeightSync(cfg, out + "/staging", timeout=30)(params, 1, [url])
    print("process", pid, "done")
""")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_write_one_export_and_one_drives_the_servers(stubs, tmp_path):
  (server,) = stubs(1)
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=4")
  port = _free_port()
  procs = [subprocess.Popen([sys.executable, "-c", _PROCESS, str(i), str(port), str(tmp_path),
                             server.url], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True) for i in range(2)]
  outs = []
  for p in procs:
    try:
      outs.append(p.communicate(timeout=300))
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      raise
  for i, (p, (out, err)) in enumerate(zip(procs, outs)):
    assert p.returncode == 0 and f"process {i} done" in out, err[-3000:]
  cfg = model_lib.get_config("tiny", tie_embeddings=False)
  params = jax.jit(model_lib.init_params, static_argnums=0)(cfg, jax.random.key(3))
  export_hf_weights(params, cfg, str(tmp_path / "plain"))
  want = (tmp_path / "plain" / "model.safetensors").read_bytes()
  assert (tmp_path / "sharded" / "model.safetensors").read_bytes() == want
  assert (tmp_path / "staging" / "v00000001" / "model.safetensors").read_bytes() == want
  # One process paused, loaded and resumed the server, once.
  posts = [c.split("?")[0] for c in server.calls if c.startswith("POST")]
  assert posts == ["POST /pause", "POST /collective_rpc", "POST /reset_prefix_cache",
                   "POST /update_weight_version", "POST /resume"]
  assert server.weight_version == "1"
