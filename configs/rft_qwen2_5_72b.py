"""Rejection fine-tuning (stage 0) of Qwen2.5-72B on its own successful trajectories.

10 samples per task, keep the resolved ones, one epoch of SFT over action tokens
(format-error turns stay in context with loss mask 0). lr 5e-6, 10 warmup steps, cosine
to 0, AdamW weight decay 0.1, 64 trajectories per step, 65k context.
"""
import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  del arg
  c = ml_collections.ConfigDict()
  c.name = "rft_qwen2_5_72b"
  c.algo = "rft"

  c.model = ml_collections.ConfigDict()
  c.model.preset = "qwen2.5-72b"
  # The weights to start from: Qwen2.5-72B-Instruct as downloaded (a Hugging Face directory).
  c.model.init = ""
  c.model.overrides = ml_collections.ConfigDict(dict(
      param_dtype="float32", compute_dtype="bfloat16",
      attention="blockwise", attention_block_q=512, attention_block_k=512,
      remat="full", max_position_embeddings=65_536))
  c.model.rules = ml_collections.ConfigDict(dict(act_embed="tensor"))

  c.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=-1, tensor=4, context=1,
                                          distributed=True))

  # The paper's 6,548 kept trajectories / 64 per step, one epoch: 103 steps.
  c.optim = ml_collections.ConfigDict(dict(
      learning_rate=5e-6, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.1, grad_clip=1.0,
      schedule="cosine", warmup_steps=10, total_steps=103))

  c.learner = ml_collections.ConfigDict(dict(
      loss="sft", microbatch_rows=16, logprob_chunk=1024, cast_params=True))

  c.rft = ml_collections.ConfigDict(dict(
      samples_per_task=10, tasks=7249, epochs=1, trajectories_per_step=64,
      temperature=1.0, max_turns=40))

  c.data = ml_collections.ConfigDict(dict(seq_len=65_536, rows_per_step=64))
  return c
