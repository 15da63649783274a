"""DAPO on Qwen2.5-72B (the paper's stages 1 and 2, Table 3).

  --config=configs/dapo_qwen2_5_72b.py:stage1   65,536-token rows, eps 0.2 / 0.3, T_max 40
  --config=configs/dapo_qwen2_5_72b.py:stage2   131,072-token rows, YaRN x4, eps 0.2 / 0.26
  --config=configs/dapo_qwen2_5_72b.py:tiny     stage 1 shrunk to the tiny preset (CPU runs,
                                                 the AOT test on v5p:2x2x2)
Both start from the RFT checkpoint (configs/rft_qwen2_5_72b.py). Memory is checked offline
with `python -m swejax.aot --config=... --topology=v5p:4x4x4` (stage 2: v5p:4x4x8).
"""
import ml_collections
from ml_collections import config_dict

_STAGES = {
    # problems/iter, pool, trajectories per optimizer step, eps_low, eps_high, turns, tokens
    "stage1": dict(problems=300, pool=7249, batch=128, eps_low=0.2, eps_high=0.3,
                   max_turns=40, seq_len=65_536, yarn=None,
                   mesh=dict(data=1, fsdp=-1, tensor=4, context=1), microbatch_rows=16),
    "stage2": dict(problems=100, pool=2028, batch=256, eps_low=0.2, eps_high=0.26,
                   max_turns=80, seq_len=131_072, yarn=4.0,
                   # T split in two over the context axis (ring attention): on a
                   # v5p-128 (4x4x8) a device holds one 65,536-token half-row.
                   mesh=dict(data=1, fsdp=-1, tensor=8, context=2), microbatch_rows=8,
                   attention="auto"),
    "tiny": dict(problems=4, pool=16, batch=8, eps_low=0.2, eps_high=0.3,
                 max_turns=10, seq_len=1024, yarn=None,
                 mesh=dict(data=1, fsdp=-1, tensor=2, context=1), microbatch_rows=4),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  stage = arg or "stage1"
  if stage not in _STAGES:
    raise ValueError(f"configs/dapo_qwen2_5_72b.py: unknown variant {stage!r}; "
                     f"known: {', '.join(_STAGES)}")
  s = _STAGES[stage]
  c = ml_collections.ConfigDict()
  c.name = f"dapo_qwen2_5_72b_{stage}"
  c.algo = "dapo"

  c.model = ml_collections.ConfigDict()
  c.model.preset = "tiny" if stage == "tiny" else "qwen2.5-72b"
  # The weights to start from: the RFT stage's output (a Hugging Face directory).
  c.model.init = ""
  c.model.overrides = ml_collections.ConfigDict(dict(
      # float32 master weights; compute, gathers and gradients in bfloat16.
      param_dtype="float32", compute_dtype="bfloat16",
      attention=s.get("attention", "blockwise"), attention_block_q=512, attention_block_k=512,
      remat="full", max_position_embeddings=s["seq_len"]))
  if s["yarn"]:
    c.model.overrides.rope_scaling = ml_collections.ConfigDict(dict(
        factor=s["yarn"], original_max_position_embeddings=32_768))
  # Changes to the logical -> mesh rules table: the residual stream is split over the
  # tensor axis too, so the per-layer activations kept for the backward fit at this length.
  c.model.rules = ml_collections.ConfigDict(dict(act_embed="tensor"))

  c.mesh = ml_collections.ConfigDict(dict(s["mesh"], distributed=stage != "tiny"))

  c.optim = ml_collections.ConfigDict(dict(
      learning_rate=1e-6, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.1, grad_clip=1.0,
      schedule="constant", warmup_steps=0, total_steps=0))

  c.learner = ml_collections.ConfigDict(dict(
      loss="dapo", eps_low=s["eps_low"], eps_high=s["eps_high"],
      kl_coef=0.0, tis_cap=config_dict.placeholder(float),
      microbatch_rows=s["microbatch_rows"], logprob_chunk=1024, cast_params=True))

  c.rl = ml_collections.ConfigDict(dict(
      problems_per_iteration=s["problems"], problem_pool=s["pool"], group_size=10,
      trajectories_per_step=s["batch"], epochs_per_iteration=1, max_turns=s["max_turns"],
      length_penalty_threshold=10, temperature=1.0, drop_zero_advantage=True,
      advantage_eps=1e-6))

  c.data = ml_collections.ConfigDict(dict(
      seq_len=s["seq_len"],
      # A trajectory never spans rows, so a step has at most one row per trajectory.
      rows_per_step=s["batch"]))
  return c
