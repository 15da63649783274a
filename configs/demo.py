"""The embedded default: the paper's pipeline on a tiny model and synthetic tasks, on a CPU.

  swejax train --config=configs/demo.py --workdir=workdirs/demo
  swejax train --config=configs/demo.py:smoke --workdir=/tmp/smoke   # a few minutes
  swejax train --config=configs/demo.py:base --workdir=workdirs/demo_base  # the base model:
      # copy corpus + demonstrations on every training task; WORKDIR/hf is the checkpoint
      # that `--config.model.init=` (or "embedded:demo_base" once shipped) starts from

warm start (SFT on scripted demonstrations with deliberate mistakes, standing in for the
pretrained instruct model) -> eval base -> RFT -> eval -> DAPO iterations -> eval, all
evaluations on held-out synthetic tasks. Numbers follow PAPER.md where they are
scale-free (eps, advantages, step penalty shape, no KL); sizes are shrunk to fit a CPU.
"""
import ml_collections
from ml_collections import config_dict


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  if variant not in ("default", "smoke", "base"):
    raise ValueError(f"configs/demo.py: unknown variant {variant!r}; known: default, smoke, "
                     "base")
  smoke = variant == "smoke"
  c = ml_collections.ConfigDict()
  c.name = f"demo_{variant}"
  c.seed = 0
  c.stages = "warm_start,eval:base,rft,eval:rft,dapo,eval:dapo"

  c.model = ml_collections.ConfigDict(dict(
      preset="tiny",
      init="",  # a Hugging Face directory, or "embedded:NAME" (swejax/assets/NAME)
      overrides=ml_collections.ConfigDict(dict(
          attention="blockwise", attention_block_q=512, attention_block_k=512,
          max_position_embeddings=8192)),
      rules=ml_collections.ConfigDict()))
  c.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=1, tensor=1, context=1,
                                          distributed=False))
  c.learner = ml_collections.ConfigDict(dict(
      eps_low=0.2, eps_high=0.3, kl_coef=0.0,
      logprob_chunk=128,  # chunks without an action token are skipped (observations)
      sft_trajectories_per_step=32))
  c.data = ml_collections.ConfigDict(dict(seq_len=8192, microbatch_rows=1))

  c.tasks = ml_collections.ConfigDict(dict(
      path="",  # empty: synthetic tasks generated into the workdir
      eval_path="",
      synthetic_n=200 if not smoke else 48, synthetic_seed=0,
      eval_n=32 if not smoke else 8,
      warm_start_n=96 if not smoke else 16,
      rft_n=48 if not smoke else 8,
      hints=True,  # the issue text names the suggested fix, as many real issues do
      image=config_dict.placeholder(str)))

  c.sandbox = ml_collections.ConfigDict(dict(
      backend="auto", hosts="", per_host=32,
      limits=ml_collections.ConfigDict(dict(memory="512m", pids=256, cpus=1.0))))
  c.agent = ml_collections.ConfigDict(dict(
      system_prompt="brief", max_turns=8, max_context_tokens=3072, max_turn_tokens=160, min_turn_tokens=16,
      window=12, max_output_chars=1500, command_timeout=20.0, episode_timeout_s=300.0,
      length_threshold=6, infra_retries=2, concurrency=8, grade_timeout=120.0))
  c.sampler = ml_collections.ConfigDict(dict(kind="jax", max_slots=8, urls=""))

  # Copy corpus first (swejax.rl.demo: the in-context copying pretraining would give),
  # then the demonstrations, which are not graded (SFT data either way).
  c.warm_start = ml_collections.ConfigDict(dict(
      demos_per_task=2, epochs=4 if not smoke else 1, mistake_rate=0.35, grade=False,
      copy_examples=0, copy_per_step=64,
      optim=ml_collections.ConfigDict(dict(
          learning_rate=2e-3, weight_decay=0.1, grad_clip=1.0, schedule="constant",
          warmup_steps=5, total_steps=0))))
  c.rft = ml_collections.ConfigDict(dict(
      samples_per_task=4 if not smoke else 2, epochs=1,
      optim=ml_collections.ConfigDict(dict(
          learning_rate=3e-4, weight_decay=0.1, grad_clip=1.0, schedule="constant",
          warmup_steps=2, total_steps=0))))
  # DAPO (PAPER.md stage 1 shape: eps 0.2 / 0.3, group advantages, no KL).
  c.optim = ml_collections.ConfigDict(dict(
      learning_rate=1e-4, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.1, grad_clip=1.0,
      schedule="constant", warmup_steps=0, total_steps=0))
  c.rl = ml_collections.ConfigDict(dict(
      iterations=4 if not smoke else 3, problems_per_iteration=16 if not smoke else 4,
      group_size=8 if not smoke else 4, trajectories_per_step=64 if not smoke else 8,
      advantage_eps=1e-6, pool_filter=False, eval_every=0))
  c.eval = ml_collections.ConfigDict(dict(runs=4 if not smoke else 2, k=4 if not smoke else 2))
  c.checkpoint = ml_collections.ConfigDict(dict(keep=3))
  if variant == "base":
    c.stages = "warm_start,eval:base"
    c.tasks.warm_start_n = 0  # every training task
    c.warm_start.update(demos_per_task=4, epochs=6, copy_examples=48_000, copy_per_step=64)
  return c
