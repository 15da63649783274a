"""Ahead-of-time memory check: compile the full train step for a TPU topology, from a CPU.

    python -m swejax.aot --config=configs/dapo_qwen2_5_72b.py:stage1 --topology=v5p:4x4x4

Prints one JSON object: topology, chips, peak_bytes_per_device, hbm_bytes_per_device, fits
(peak <= --hbm_fraction of HBM), and the compiler's breakdown. Exit status 0 iff it fits.
Needs libtpu (the `tpu` extra) for the TPU compiler; no TPU is used.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# The TPU compiler comes from libtpu, but nothing here may grab a real accelerator; and as
# nothing runs on a chip, another process holding libtpu's lock must not stop the compile.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")

import jax  # noqa: E402  pylint: disable=g-import-not-at-top
import jax.numpy as jnp  # noqa: E402

from swejax import schema  # noqa: E402
from swejax.learner import build, mesh as mesh_lib, state as state_lib  # noqa: E402
from swejax.learner.train_step import (INT_FIELDS, StepConfig, batch_sharding,  # noqa: E402
                                       make_train_step)
from swejax.learner.optimizer import make_schedule  # noqa: E402

GIB = 1 << 30
# HBM per chip by TPU generation (the first part of a topology name).
HBM_BYTES = {"v4": 32 * GIB, "v5e": 16 * GIB, "v5litepod": 16 * GIB, "v5p": 95 * GIB,
             "v6e": 32 * GIB}


def get_topology(name: str):
  """A TPU topology description (no hardware needed), e.g. 'v5p:4x4x4'."""
  from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
  kind = name.split(":")[0]
  if kind not in HBM_BYTES:
    raise ValueError(f"--topology={name!r}: unknown TPU kind {kind!r}; known: "
                     f"{', '.join(sorted(HBM_BYTES))} (e.g. v5p:4x4x4)")
  kwargs = {"chip_config_name": "megacore"} if kind == "v4" else {}
  try:
    return topologies.get_topology_desc(topology_name=name, platform="tpu", **kwargs)
  except Exception as e:  # pylint: disable=broad-except
    raise RuntimeError(f"--topology={name!r}: cannot get a TPU topology ({e}); the TPU "
                       "compiler needs libtpu: pip install 'swejax[tpu]'") from e


def abstract_batch(cfg: StepConfig, mesh, microbatches: int, rows: int,
                   seq_len: int) -> dict[str, jax.ShapeDtypeStruct]:
  sharding = batch_sharding(mesh, cfg.model)
  shape = (microbatches, rows, seq_len)
  return {f: jax.ShapeDtypeStruct(
      shape, jnp.int32 if f in INT_FIELDS else jnp.float32, sharding=sharding)
          for f in cfg.fields()}


# The trajectories of one optimizer step, by training stage.
STEP_TRAJECTORIES = {"warm_start": lambda c: c.warm_start.trajectories_per_step,
                     "rft": lambda c: c.rft.trajectories_per_step,
                     "dapo": lambda c: c.rl.trajectories_per_step}


def training_stage(config) -> str:
  """The config's first training stage: the step that is compiled."""
  for stage in schema.stage_list(config):
    if stage.split(":")[0] in schema.TRAINING_STAGES:
      return stage.split(":")[0]
  raise ValueError(f"config stages={config.stages!r}: no training stage to compile")


def compile_report(config: Any, topology: str, *, hbm_fraction: float = 0.9) -> dict[str, Any]:
  """Compile the configured train step for `topology` and report its memory per device."""
  topo = get_topology(topology)
  devices = topo.devices
  mesh = mesh_lib.make_mesh(config.mesh, devices=devices)
  stage = training_stage(config)
  cfg = build.step_config(config, build.stage_loss(stage))
  optim = build.stage_optim(config, stage)
  if not optim["total_steps"]:  # RFT's is the kept data's; any value compiles the same
    optim["total_steps"] = optim["warmup_steps"] + 1
  tx = state_lib.make_tx(cfg.model, optim)
  rows = int(config.data.microbatch_rows)
  # A trajectory never spans rows: a step of N trajectories packs into at most N rows.
  rows_per_step = -(-int(STEP_TRAJECTORIES[stage](config)) // rows) * rows
  seq_len = int(config.data.seq_len)
  step = make_train_step(cfg, tx, mesh, schedule=make_schedule(optim))
  state = state_lib.abstract_state(cfg.model, tx, mesh)
  batch = abstract_batch(cfg, mesh, rows_per_step // rows, rows, seq_len)
  hbm = HBM_BYTES[topology.split(":")[0]]
  report: dict[str, Any] = {
      "topology": topology, "chips": len(devices),
      "mesh": {k: int(v) for k, v in mesh.shape.items()},
      "model_params": cfg.model.num_params, "seq_len": seq_len,
      "microbatch_rows": rows, "microbatches": rows_per_step // rows,
      "hbm_bytes_per_device": hbm,
  }
  t0 = time.perf_counter()
  try:
    with jax.set_mesh(mesh):
      compiled = step.jitted.lower(state, batch).compile()
  except Exception as e:  # pylint: disable=broad-except
    if "RESOURCE_EXHAUSTED" not in str(e):
      raise
    report.update(fits=False, peak_bytes_per_device=None,
                  error=str(e).splitlines()[0][:500])
    return report
  mem = compiled.memory_analysis()
  # Everything the executable holds on a device at once: inputs, outputs that do not reuse
  # (donated) inputs, and the temporaries arena. The compiler's own peak estimate is
  # reported too; it leaves out the arguments.
  total = (mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes
           + mem.temp_size_in_bytes)
  peak = int(max(total, mem.peak_memory_in_bytes))
  report.update(
      peak_bytes_per_device=peak, peak_fraction=round(peak / hbm, 4),
      fits=peak <= hbm_fraction * hbm, hbm_fraction_limit=hbm_fraction,
      compiler_peak_bytes=int(mem.peak_memory_in_bytes),
      argument_bytes=int(mem.argument_size_in_bytes), output_bytes=int(mem.output_size_in_bytes),
      alias_bytes=int(mem.alias_size_in_bytes), temp_bytes=int(mem.temp_size_in_bytes),
      compile_seconds=round(time.perf_counter() - t0, 1))
  return report


def main(argv: list[str] | None = None) -> int:
  from swejax import config as config_lib  # pylint: disable=g-import-not-at-top
  argv = list(sys.argv[1:] if argv is None else argv)
  try:
    config, extra = config_lib.parse_flags(argv, "swejax.aot", extra={
        "topology": ("v5p:4x4x4", "TPU topology, e.g. v5p:4x4x4 or v5e:4x4."),
        "hbm_fraction": ("0.9", "fits means peak <= this fraction of HBM."),
    })
    try:
      fraction = float(extra["hbm_fraction"])
    except ValueError:
      raise config_lib.UsageError(
          f"swejax.aot: --hbm_fraction={extra['hbm_fraction']!r} is not a number") from None
    report = compile_report(config, extra["topology"], hbm_fraction=fraction)
  except (ValueError, RuntimeError) as e:  # UsageError is a ValueError
    print(f"swejax.aot: {e}" if not str(e).startswith("swejax.aot") else str(e),
          file=sys.stderr)
    return 2
  print(json.dumps(report))
  return 0 if report["fits"] else 1


if __name__ == "__main__":
  raise SystemExit(main())
