"""Rejection fine-tuning (stage 0) of Qwen2.5-72B-Instruct on its own successful trajectories.

  swejax train --config=configs/rft_qwen2_5_72b.py --config.model.init=DIR \
      --config.sampler.urls=http://host:8000,... --workdir=workdirs/rft_qwen2_5_72b

10 samples per task (T_max 40, 65k tokens), keep the resolved ones, one epoch of SFT over
action tokens (format-error turns stay in context with loss mask 0): lr 5e-6, 10 warmup
steps, cosine to 0 over the steps the kept data gives, AdamW weight decay 0.1, 64
trajectories per step (the paper's 6,548 kept trajectories: 103 steps). Then the
evaluation (10 runs). WORKDIR/hf is DAPO stage 1's model.init.
"""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "swejax_configs_paper", pathlib.Path(__file__).with_name("_paper.py"))
_paper = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_paper)


def get_config(arg: str | None = None):
  if arg:
    raise ValueError(f"configs/rft_qwen2_5_72b.py: no variants, got {arg!r}")
  c = _paper.run_config(
      "rft_qwen2_5_72b", "rft,eval:rft", init="checkpoints/Qwen2.5-72B-Instruct",
      max_turns=40, context=65_536, yarn=None,
      mesh=dict(data=1, fsdp=-1, tensor=4, context=1))
  c.rft = _paper.CD(dict(
      samples_per_task=10, epochs=1, trajectories_per_step=64,
      # total_steps 0: the steps the kept data gives (epochs x ceil(kept / 64)).
      optim=_paper.CD(dict(_paper.PAPER_OPTIM, learning_rate=5e-6, schedule="cosine",
                           warmup_steps=10, total_steps=0))))
  del c.learner.eps_low, c.learner.eps_high, c.tasks.warm_start_n  # DAPO's, warm start's
  return c
