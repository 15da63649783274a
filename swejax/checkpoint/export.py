"""`swejax convert SRC DST [--dtype=bfloat16]`: a checkpoint in Hugging Face form.

SRC is either a run's orbax checkpoint (WORKDIR/checkpoints/N: its weights are read with
the run's WORKDIR/config.json, straight into their shardings, the optimizer state left
on disk) or a Hugging Face directory (rewritten, e.g. in bfloat16). DST gets config.json,
safetensors and the run's own tokenizer, which is what vLLM, transformers and the next
stage's model.init read.
"""
from __future__ import annotations

import argparse
import json
import os

import ml_collections

from swejax.checkpoint.manager import Checkpointer
from swejax.config import UsageError
from swejax.learner import build, make_mesh
from swejax.learner.trainer import Learner
from swejax.model import convert as hf_convert
from swejax.model import save_hf
from swejax.model.pretrained import resolve_init
from swejax.tokenizer.check import tokenizer_dir


def _run_of(src: str) -> tuple[str, int]:
  """(workdir, step) of WORKDIR/checkpoints/N; UsageError naming SRC otherwise."""
  src = os.path.abspath(src.rstrip("/"))
  parent, name = os.path.split(src)
  if os.path.basename(parent) != "checkpoints" or not name.isdigit():
    raise UsageError(f"swejax convert: {src} is not a Hugging Face checkpoint directory "
                     "(no config.json), nor a run's checkpoint (WORKDIR/checkpoints/N)")
  workdir = os.path.dirname(parent)
  if not os.path.isfile(os.path.join(workdir, "config.json")):
    raise UsageError(f"swejax convert: {workdir}/config.json is missing: the run's config "
                     "says which model the checkpoint holds")
  return workdir, int(name)


def export_checkpoint(src: str, dst: str, dtype: str = "bfloat16") -> None:
  """The weights of orbax checkpoint `src` (WORKDIR/checkpoints/N) as a Hugging Face
  directory `dst`, with the run's tokenizer."""
  workdir, step = _run_of(src)
  with open(os.path.join(workdir, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  # Every device on one axis: any rules table maps onto it, whatever mesh the run had.
  mesh = make_mesh({"data": 1, "fsdp": -1, "tensor": 1, "context": 1})
  ckpt = Checkpointer(workdir, keep=config.checkpoint.keep)
  try:
    stage = ckpt.restore_loop_state(step)["optim_stage"]
    optim = build.stage_optim(config, stage)
    if not optim["total_steps"]:  # only the structure matters here
      optim["total_steps"] = optim["warmup_steps"] + 1
    learner = Learner.restored(build.step_config(config, build.stage_loss(stage)), optim,
                               mesh, lambda abstract: ckpt.restore(step, abstract)[0])
  finally:
    ckpt.close()
  m = config.model
  tok = tokenizer_dir(resolve_init(m.tokenizer) if m.tokenizer else "",
                      resolve_init(m.init) if m.init else "")
  save_hf(learner.params, build.model_config(m), dst, dtype=dtype, tokenizer_dir=str(tok))


def main(argv: list[str]) -> int:
  p = argparse.ArgumentParser(prog="swejax convert", description=__doc__.split("\n\n")[0])
  p.add_argument("src", help="WORKDIR/checkpoints/N, or a Hugging Face Qwen2 directory")
  p.add_argument("dst", help="where to write the Hugging Face checkpoint")
  p.add_argument("--dtype", default="bfloat16",
                 help=f"one of {', '.join(hf_convert.DTYPES)}")
  args = p.parse_args(argv)
  if args.dtype not in hf_convert.DTYPES:
    raise UsageError(f"swejax convert: --dtype={args.dtype!r} is not one of "
                     f"{', '.join(hf_convert.DTYPES)}")
  if os.path.isfile(os.path.join(args.src, "config.json")):
    hf_convert.convert(args.src, args.dst, args.dtype)
  else:
    export_checkpoint(args.src, args.dst, args.dtype)
  print(f"wrote {args.dst} ({args.dtype})")
  return 0
