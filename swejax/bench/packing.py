"""Packing efficiency on the demo's trajectories: best-fit decreasing vs one per row.

    python -m swejax.bench.packing [--workdir=workdirs/demo] [--seq_len=8192]

Reads every finished episode under WORKDIR/trajectories/ (the demo's, by default) and
packs them as the learner would: in minibatches of the DAPO config's
trajectories_per_step, each into rows of seq_len tokens. The last stdout line is JSON with
`packing_efficiency` (non-padding fraction of the packed rows), the same for plain
padding (one trajectory per row, rows as long as seq_len) and `ratio_vs_padding`.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np

from swejax.data.packing import best_fit_decreasing
from swejax.rl.episode import read_episodes


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--workdir", default="workdirs/demo")
  ap.add_argument("--seq_len", type=int, default=8192)
  ap.add_argument("--per_step", type=int, default=64)
  ap.add_argument("--stages", default="dapo,rft,eval", help="trajectory file prefixes")
  args = ap.parse_args()
  files = sorted(glob.glob(os.path.join(args.workdir, "trajectories", "*.jsonl")))
  prefixes = tuple(args.stages.split(","))
  files = [f for f in files if os.path.basename(f).startswith(prefixes)]
  lengths = [e.num_tokens for f in files for e in read_episodes(f)]
  if not lengths:
    sys.exit(f"no trajectories under {args.workdir}/trajectories (run the demo first: "
             "bash launch/demo.sh)")
  rng = np.random.default_rng(0)
  order = rng.permutation(len(lengths))
  rows, tokens = 0, 0
  for k in range(0, len(order), args.per_step):
    step = [lengths[i] for i in order[k:k + args.per_step]]
    rows += len(best_fit_decreasing(step, args.seq_len))
    tokens += sum(step)
  eff = tokens / (rows * args.seq_len)
  padding = tokens / (len(lengths) * args.seq_len)
  print(json.dumps({
      "benchmark": "packing", "workdir": args.workdir, "files": len(files),
      "trajectories": len(lengths), "seq_len": args.seq_len,
      "trajectories_per_step": args.per_step,
      "length_mean": float(np.mean(lengths)), "length_max": int(np.max(lengths)),
      "rows_packed": rows, "rows_padding": len(lengths), "packing_efficiency": eff,
      "padding_efficiency": padding, "ratio_vs_padding": eff / padding}))


if __name__ == "__main__":
  main()
