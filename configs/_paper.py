"""The sections every stage of the paper's run shares (PAPER.md), for the 72B configs.

Not a config itself (no get_config): rft_qwen2_5_72b.py, dapo_qwen2_5_72b.py and
eval_qwen2_5_72b.py build on it, so that the agent, sandboxes, sampler and evaluation of
every stage are the same unless a stage changes them (stage 2: T_max 80, 131k tokens).
Values the paper does not give are marked "(not in the paper)".
"""
import ml_collections

CD = ml_collections.ConfigDict
PAPER_OPTIM = dict(b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.1, grad_clip=1.0)
# YaRN is needed beyond the 32,768 positions Qwen2.5 was trained on.
ORIGINAL_POSITIONS = 32_768


def run_config(name: str, stages: str, *, init: str, max_turns: int, context: int,
               yarn: float | None, mesh: dict) -> ml_collections.ConfigDict:
  """Everything but the training stage's own section."""
  c = CD()
  c.name, c.seed, c.stages = name, 0, stages
  c.model = CD(dict(
      preset="qwen2.5-72b",
      init=init,  # a Hugging Face directory (the previous stage's WORKDIR/hf)
      tokenizer="",  # empty: model.init's own tokenizer.json and chat template
      # float32 master weights; compute, gathers and gradients in bfloat16.
      overrides=CD(dict(param_dtype="float32", compute_dtype="bfloat16",
                        attention="blockwise", attention_block_q=512,
                        attention_block_k=512, remat="full",
                        max_position_embeddings=context)),
      # The residual stream is split over the tensor axis too, so the per-layer
      # activations kept for the backward fit at this length.
      rules=CD(dict(act_embed="tensor"))))
  if yarn:
    c.model.overrides.rope_scaling = CD(dict(factor=yarn,
                                             original_max_position_embeddings=ORIGINAL_POSITIONS))
  c.mesh = CD(dict(mesh, distributed=True))
  c.learner = CD(dict(eps_low=0.2, eps_high=0.3, logprob_chunk=1024, cast_params=True))
  # A trajectory never spans rows: a row holds the longest episode the context allows.
  c.data = CD(dict(seq_len=context, microbatch_rows=16 if context <= 65_536 else 8))
  c.tasks = CD(dict(
      # SWE-bench-form rows (swejax tasks validate): the paper trains on 7,249 filtered
      # SWE-rebench tasks and evaluates on SWE-bench Verified.
      path="data/swe_rebench_train.jsonl", eval_path="data/swe_bench_verified.jsonl",
      eval_n=0,  # 0: every held-out row
      split_seed=0, hints=False, rft_n=0, warm_start_n=0,
      image="", test_cmd="", image_namespace="", image_template=""))
  c.sandbox = CD(dict(backend="docker", hosts="", per_host=64,
                      # one sandbox per agent: 0.5 CPU, 2 GiB (pids: not in the paper)
                      limits=CD(dict(memory="2g", pids=1024, cpus=0.5))))
  c.agent = CD(dict(
      system_prompt="full", max_turns=max_turns, max_context_tokens=context,
      length_threshold=10,  # L_thr of the step penalty
      # (not in the paper:)
      max_turn_tokens=4096, min_turn_tokens=16, window=100, max_output_chars=10_000,
      command_timeout=120.0, episode_timeout_s=3600.0, infra_retries=2, concurrency=512,
      grade_timeout=600.0))
  # The vLLM servers (launch/vllm_fleet.sh prints their URLs); every one reads the weights
  # from staging_dir at the same path. Training samples at temperature 1, untruncated.
  c.sampler = CD(dict(kind="vllm", urls="", max_slots=0, staging_dir="",
                      startup_timeout=1800.0))
  # Pass@1 is the mean of 10 runs with its standard error; Pass@10 from the same runs.
  c.eval = CD(dict(runs=10, k=10, runs_by_name=CD(), temperature=1.0))
  c.checkpoint = CD(dict(keep=3))
  return c
