"""Evaluation of a stage's model: Pass@1 +- s.e. over 10 runs and Pass@10 (PAPER.md).

  swejax train --config=configs/eval_qwen2_5_72b.py:stage1 --config.sampler.urls=...
  --config=configs/eval_qwen2_5_72b.py:base     Qwen2.5-72B-Instruct as downloaded
  --config=configs/eval_qwen2_5_72b.py:rft      the RFT stage's WORKDIR/hf
  --config=configs/eval_qwen2_5_72b.py:stage1   DAPO stage 1's
  --config=configs/eval_qwen2_5_72b.py:stage2   DAPO stage 2's (131k tokens, YaRN x4, T_max 80)

On SWE-bench Verified (tasks.eval_path); each model is evaluated with the context and
turns of the stage that produced it.
"""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "swejax_configs_paper", pathlib.Path(__file__).with_name("_paper.py"))
_paper = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_paper)

_MODELS = {
    "base": ("checkpoints/Qwen2.5-72B-Instruct", 40, 65_536, None),
    "rft": ("workdirs/rft_qwen2_5_72b/hf", 40, 65_536, None),
    "stage1": ("workdirs/dapo_qwen2_5_72b_stage1/hf", 40, 65_536, None),
    "stage2": ("workdirs/dapo_qwen2_5_72b_stage2/hf", 80, 131_072, 4.0),
}


def get_config(arg: str | None = None):
  name = arg or "stage2"
  if name not in _MODELS:
    raise ValueError(f"configs/eval_qwen2_5_72b.py: unknown variant {name!r}; "
                     f"known: {', '.join(_MODELS)}")
  init, turns, context, yarn = _MODELS[name]
  c = _paper.run_config(f"eval_qwen2_5_72b_{name}", f"eval:{name}", init=init,
                        max_turns=turns, context=context, yarn=yarn,
                        mesh=dict(data=1, fsdp=-1, tensor=8, context=1))
  # Evaluation reads the held-out rows only; no learner.
  del c.learner, c.data, c.tasks.rft_n, c.tasks.warm_start_n
  c.tasks.path = ""
  return c
