"""Packing efficiency on the demo's trajectories: best-fit decreasing vs one per row.

    python -m swejax.bench.packing [--workdir=workdirs/demo] [--seq_len=N] [--per_step=N]

Reads every finished episode under WORKDIR/trajectories/ (the demo's, by default) and
packs them as the learner does: each file's trajectories (one stage iteration) in
minibatches of the run's rl.trajectories_per_step (swejax.data.batching.minibatches, with its
row-saving swaps), each into rows of its data.seq_len tokens (swejax.data.packing.pack_bins;
both settings read from WORKDIR/config.json unless given). The last stdout line is JSON with
`packing_efficiency` (non-padding fraction of the packed rows), the same for plain
padding (one trajectory per row, rows as long as seq_len), `ratio_vs_padding`, and the
lower bound's efficiency (every step in ceil(tokens / seq_len) rows).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

from swejax.data.packing import Sequence_, pack_bins
from swejax.data.batching import minibatches
from swejax.rl.episode import read_episodes


def _run_config(workdir: str) -> dict:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--workdir", default="workdirs/demo")
  ap.add_argument("--seq_len", type=int, default=None, help="default: the run's data.seq_len")
  ap.add_argument("--per_step", type=int, default=None,
                  help="default: the run's rl.trajectories_per_step")
  ap.add_argument("--stages", default="dapo,rft,eval", help="trajectory file prefixes")
  args = ap.parse_args()
  run = _run_config(args.workdir)
  args.seq_len = args.seq_len or run.get("data", {}).get("seq_len", 8192)
  args.per_step = args.per_step or run.get("rl", {}).get("trajectories_per_step", 64)
  files = sorted(glob.glob(os.path.join(args.workdir, "trajectories", "*.jsonl")))
  prefixes = tuple(args.stages.split(","))
  files = [f for f in files if os.path.basename(f).startswith(prefixes)]
  # Each file is one stage iteration's trajectories, made into steps as the learner does.
  per_file = [[e.num_tokens for e in read_episodes(f)] for f in files]
  lengths = [n for ls in per_file for n in ls]
  if not lengths:
    sys.exit(f"no trajectories under {args.workdir}/trajectories (run the demo first: "
             "bash launch/demo.sh)")
  rows, tokens, bound = 0, 0, 0
  for it, ls in enumerate(per_file):
    items = [Sequence_(tokens=np.zeros(n, np.int32), loss_mask=np.zeros(n, np.float32),
                       logprobs=np.zeros(n, np.float32)) for n in ls]
    for step in minibatches(items, args.per_step, seed=it, seq_len=args.seq_len):
      step_lengths = [len(s.tokens) for s in step]
      rows += len(pack_bins(step_lengths, args.seq_len))
      tokens += sum(step_lengths)
      bound += -(-sum(step_lengths) // args.seq_len)
  eff = tokens / (rows * args.seq_len)
  padding = tokens / (len(lengths) * args.seq_len)
  print(json.dumps({
      "benchmark": "packing", "workdir": args.workdir, "files": len(files),
      "trajectories": len(lengths), "seq_len": args.seq_len,
      "trajectories_per_step": args.per_step,
      "length_mean": float(np.mean(lengths)), "length_max": int(np.max(lengths)),
      "rows_packed": rows, "rows_padding": len(lengths), "packing_efficiency": eff,
      "lower_bound_efficiency": tokens / (bound * args.seq_len),
      "padding_efficiency": padding, "ratio_vs_padding": eff / padding}))


if __name__ == "__main__":
  main()
