"""Learner throughput: the jitted DAPO train step vs a PyTorch eager reference, on CPU.

    python -m swejax.bench.learner [--preset=small] [--seq_len=2048] [--rows=1] [--steps=5]

Both sides train the same model (same weights: transformers' Qwen2 built from ours) on the
same packed batch with the same DAPO loss and AdamW + clipping. Timed steps alternate
between the two, so load from other processes hits both alike. The float32 matmul peak of
this machine is measured in the same run (XLA's and PyTorch's; the larger is the peak).
The last stdout line is one JSON object; ratio_vs_torch > 1 means swejax is faster.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from swejax import learner
from swejax import model as model_lib

EPS_LOW, EPS_HIGH = 0.2, 0.3
OPTIM = {"learning_rate": 1e-6, "weight_decay": 0.1, "grad_clip": 1.0}


def _time(fn: Callable[[], Any]) -> float:
  t0 = time.perf_counter()
  fn()
  return time.perf_counter() - t0


def matmul_peak(n: int = 2048, reps: int = 5) -> dict[str, float]:
  """Best-of-`reps` float32 [n, n] @ [n, n] FLOP/s, in XLA and in PyTorch."""
  import torch  # pylint: disable=g-import-not-at-top
  flops = 2.0 * n ** 3
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  mm = jax.jit(lambda x: x @ x)
  mm(a).block_until_ready()
  xla = max(flops / _time(lambda: mm(a).block_until_ready()) for _ in range(reps))
  ta = torch.randn(n, n)
  torch.mm(ta, ta)
  tch = max(flops / _time(lambda: torch.mm(ta, ta)) for _ in range(reps))
  return {"xla": xla, "torch": tch}


def step_flops(cfg: model_lib.ModelConfig, rows: int, t: int) -> float:
  """Model FLOPs of one forward + backward (no recomputation counted): 6 per parameter of
  every matmul (the unembedding included, the embedding lookup not) per token, plus causal
  attention, 6 * N * H * T per token per layer."""
  d, f, n, k, h = (cfg.hidden_size, cfg.intermediate_size, cfg.num_heads, cfg.num_kv_heads,
                   cfg.head_dim)
  matmul_params = cfg.num_layers * (2 * d * n * h + 2 * d * k * h + 3 * d * f) + d * cfg.vocab_size
  per_token = 6 * matmul_params + 6 * cfg.num_layers * n * h * t
  return float(per_token * rows * t)


def make_batch(cfg: model_lib.ModelConfig, rows: int, t: int, seed: int = 0) -> dict:
  """One trajectory per row, loss on the second half (the "actions"), sampler log-probs
  close to the model's so that both clip sides and the unclipped region all occur."""
  rng = np.random.default_rng(seed)
  tokens = rng.integers(0, cfg.vocab_size, (rows, t)).astype(np.int32)
  mask = np.zeros((rows, t), np.float32)
  mask[:, t // 2:] = 1.0
  return dict(tokens=tokens, positions=np.tile(np.arange(t, dtype=np.int32), (rows, 1)),
              segment_ids=np.ones((rows, t), np.int32), loss_mask=mask,
              advantages=rng.choice([-1.0, 1.0], (rows, 1)).repeat(t, 1).astype(np.float32),
              old_logprobs=(-np.log(cfg.vocab_size) + rng.normal(0, 0.3, (rows, t))
                            ).astype(np.float32))


def jax_side(cfg, params, batch, logprob_chunk):
  mesh = learner.make_mesh({"fsdp": 1}, devices=jax.devices()[:1])
  tx = learner.make_tx(cfg, OPTIM)
  step = learner.make_train_step(
      learner.StepConfig(model=cfg, loss="dapo", eps_low=EPS_LOW, eps_high=EPS_HIGH,
                         logprob_chunk=logprob_chunk), tx, mesh)
  holder = {"state": learner.init_state(cfg, tx, mesh, jax.random.key(0), params=params)}
  dev_batch = jax.device_put(learner.split_microbatches(batch, 1),
                             learner.batch_sharding(mesh, cfg))

  def run() -> float:
    holder["state"], m = step(holder["state"], dev_batch)
    return float(m["loss"])  # blocks until the step is done
  return run


def torch_side(cfg, params, batch):
  """transformers' Qwen2 in eager mode with the same weights, the same DAPO formula."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  from swejax.model import hf  # pylint: disable=g-import-not-at-top
  hf_cfg = transformers.Qwen2Config(**hf.config_to_hf(cfg, "float32"))
  hf_cfg._attn_implementation = "sdpa"  # pylint: disable=protected-access
  model = transformers.Qwen2ForCausalLM(hf_cfg).float()
  state = {n: torch.from_numpy(np.ascontiguousarray(a)) for n, a in hf.iter_hf_tensors(params, cfg)}
  missing, unexpected = model.load_state_dict(state, strict=False)
  if unexpected or [m for m in missing if m != "lm_head.weight"]:
    raise RuntimeError(f"weight mapping: missing {missing}, unexpected {unexpected}")
  model.train()
  opt = torch.optim.AdamW(model.parameters(), lr=OPTIM["learning_rate"], betas=(0.9, 0.999),
                          eps=1e-8, weight_decay=OPTIM["weight_decay"])
  tok = torch.from_numpy(batch["tokens"]).long()
  pos = torch.from_numpy(batch["positions"]).long()
  old = torch.from_numpy(batch["old_logprobs"])[:, 1:]
  adv = torch.from_numpy(batch["advantages"])[:, 1:]
  mask = torch.from_numpy(batch["loss_mask"])[:, 1:]

  def run() -> float:
    opt.zero_grad(set_to_none=True)
    logits = model(input_ids=tok, position_ids=pos).logits.float()
    lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, tok[:, 1:, None])[..., 0]
    ratio = torch.exp(lp - old)
    per = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - EPS_LOW, 1 + EPS_HIGH) * adv)
    loss = (per * mask).sum() / mask.sum()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), OPTIM["grad_clip"])
    opt.step()
    return float(loss.detach())
  return run


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m swejax.bench.learner", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--preset", default="small")
  p.add_argument("--seq_len", type=int, default=2048)
  p.add_argument("--rows", type=int, default=1)
  p.add_argument("--steps", type=int, default=5, help="timed steps per side")
  p.add_argument("--attention", default="blockwise", choices=("xla", "blockwise"))
  # 256: attention forward + backward of a layer 86 ms against 111 ms at 512 (less causal
  # waste; 128 loses to loop overhead).
  p.add_argument("--block", type=int, default=256, help="blockwise attention block size")
  p.add_argument("--logprob_chunk", type=int, default=512)
  p.add_argument("--unroll", type=int, default=1, help="model scan_unroll (layers per step)")
  args = p.parse_args(argv)

  cfg = model_lib.get_config(args.preset, attention=args.attention, attention_block_q=args.block,
                             attention_block_k=args.block, scan_unroll=args.unroll,
                             max_position_embeddings=max(args.seq_len, 2048))
  if not 20e6 <= cfg.num_params <= 100e6:
    print(f"note: preset {args.preset!r} has {cfg.num_params / 1e6:.1f}M parameters "
          "(the benchmark is meant for 20M-100M)", file=sys.stderr)
  params = jax.device_get(model_lib.init_params(cfg, jax.random.key(0)))
  batch = make_batch(cfg, args.rows, args.seq_len)
  run_jax = jax_side(cfg, params, batch, args.logprob_chunk)
  run_torch = torch_side(cfg, params, batch)
  # First steps: compile / warm up, and check both compute the same loss on the same weights.
  loss_jax, loss_torch = run_jax(), run_torch()
  run_jax(), run_torch()
  times: dict[str, list[float]] = {"jax": [], "torch": []}
  for _ in range(args.steps):
    times["jax"].append(_time(run_jax))
    times["torch"].append(_time(run_torch))
  peak = matmul_peak()
  tokens = args.rows * args.seq_len
  flops = step_flops(cfg, args.rows, args.seq_len)
  t_jax, t_torch = statistics.median(times["jax"]), statistics.median(times["torch"])
  peak_max = max(peak.values())
  out = {
      "bench": "learner", "preset": args.preset, "params": cfg.num_params,
      "seq_len": args.seq_len, "rows": args.rows, "attention": args.attention,
      "block": args.block, "logprob_chunk": args.logprob_chunk, "scan_unroll": args.unroll,
      "tokens_per_s": round(tokens / t_jax, 1), "torch_tokens_per_s": round(tokens / t_torch, 1),
      "ratio_vs_torch": round(t_torch / t_jax, 3),
      "step_s": round(t_jax, 4), "torch_step_s": round(t_torch, 4),
      "best_step_s": round(min(times["jax"]), 4),
      "torch_best_step_s": round(min(times["torch"]), 4),
      "model_flops_per_step": flops,
      "achieved_flops": round(flops / t_jax), "torch_achieved_flops": round(flops / t_torch),
      "matmul_peak_flops_xla": round(peak["xla"]), "matmul_peak_flops_torch": round(peak["torch"]),
      "frac_of_peak": round(flops / t_jax / peak_max, 3),
      "torch_frac_of_peak": round(flops / t_torch / peak_max, 3),
      "first_loss": loss_jax, "torch_first_loss": loss_torch,
  }
  print(json.dumps(out))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
