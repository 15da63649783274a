"""Peak memory of a tiny-model forward against sequence length: blockwise vs reference.

    python -m swejax.bench.attention [--max_len=16384]

XLA's own buffer assignment of the compiled forward (`memory_analysis()`: temporaries +
outputs) is the peak it will allocate; nothing is executed at the largest lengths, so the
quadratic reference can be measured where it would not fit. The last stdout line is JSON:
per length the bytes of both, the fitted growth exponent of each (log-log slope; 1 is
linear, 2 quadratic) and `ratio_vs_xla_reference` (reference bytes / blockwise bytes at the
longest length: higher is better for blockwise).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from swejax import model as M  # noqa: E402


def peak_bytes(cfg: M.ModelConfig, t: int) -> int:
  params = M.abstract_params(cfg)
  ids = jax.ShapeDtypeStruct((1, t), jnp.int32)
  compiled = jax.jit(lambda p, a, b, c: M.forward(p, cfg, a, b, c)).lower(
      params, ids, ids, ids).compile()
  m = compiled.memory_analysis()
  return int(m.temp_size_in_bytes + m.output_size_in_bytes)


def slope(ts, ys) -> float:
  return float(np.polyfit(np.log(ts), np.log(ys), 1)[0])


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--max_len", type=int, default=16384)
  ap.add_argument("--block", type=int, default=512)
  args = ap.parse_args()
  lengths = [1024 * 2**i for i in range(int(math.log2(args.max_len // 1024)) + 1)]
  base = M.get_config("tiny", max_position_embeddings=args.max_len)
  rows = []
  t0 = time.time()
  for t in lengths:
    blk = peak_bytes(base.replace(attention="blockwise", attention_block_q=args.block,
                                  attention_block_k=args.block), t)
    ref = peak_bytes(base.replace(attention="xla"), t)
    # The logits alone ([T, V] float32) are linear in T and the same for both.
    logits = t * base.vocab_size * 4
    rows.append({"T": t, "blockwise_bytes": blk, "xla_reference_bytes": ref,
                 "logits_bytes": logits})
    print(f"T={t:6d}  blockwise {blk / 2**20:9.1f} MiB   reference {ref / 2**20:9.1f} MiB",
          flush=True)
  ts = [r["T"] for r in rows]
  # Growth of what attention adds on top of the (linear) logits.
  blk_extra = [max(1, r["blockwise_bytes"] - r["logits_bytes"]) for r in rows]
  ref_extra = [max(1, r["xla_reference_bytes"] - r["logits_bytes"]) for r in rows]
  out = {
      "benchmark": "attention_memory", "model": "tiny", "block": args.block, "rows": rows,
      "blockwise_growth_exponent": slope(ts, [r["blockwise_bytes"] for r in rows]),
      "xla_reference_growth_exponent": slope(ts, [r["xla_reference_bytes"] for r in rows]),
      "blockwise_growth_exponent_without_logits": slope(ts, blk_extra),
      "xla_reference_growth_exponent_without_logits": slope(ts, ref_extra),
      "ratio_vs_xla_reference": rows[-1]["xla_reference_bytes"] / rows[-1]["blockwise_bytes"],
      "seconds": time.time() - t0,
  }
  print(json.dumps(out))


if __name__ == "__main__":
  main()
