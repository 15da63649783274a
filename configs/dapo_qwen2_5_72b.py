"""DAPO on Qwen2.5-72B (the paper's stages 1 and 2, Table 3).

  --config=configs/dapo_qwen2_5_72b.py:stage1   65,536 tokens, eps 0.2 / 0.3, T_max 40
  --config=configs/dapo_qwen2_5_72b.py:stage2   131,072 tokens, YaRN x4, eps 0.2 / 0.26, T_max 80
  --config=configs/dapo_qwen2_5_72b.py:tiny     stage 1 shrunk to the tiny preset (CPU runs,
                                                 the AOT test on v5p:2x2x2)
Stage 1 starts from the RFT stage's WORKDIR/hf, stage 2 from stage 1's; stage 2's pool is
the paper's filter (drop tasks solved >= 2/3 of the time so far, and never-solved ones).
Memory is checked offline with `python -m swejax.aot --config=... --topology=v5p:4x4x4`
(stage 2: v5p:4x4x8).
"""
import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "swejax_configs_paper", pathlib.Path(__file__).with_name("_paper.py"))
_paper = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_paper)

_STAGES = {
    # iterations: not in the paper; about one pass over each stage's pool.
    "stage1": dict(problems=300, batch=128, eps_high=0.3, max_turns=40, context=65_536,
                   yarn=None, iterations=24, pool_filter=False,
                   init="workdirs/rft_qwen2_5_72b/hf",
                   history="workdirs/rft_qwen2_5_72b/solve_history.jsonl",
                   mesh=dict(data=1, fsdp=-1, tensor=4, context=1)),
    "stage2": dict(problems=100, batch=256, eps_high=0.26, max_turns=80, context=131_072,
                   yarn=4.0, iterations=20, pool_filter=True,
                   init="workdirs/dapo_qwen2_5_72b_stage1/hf",
                   # RFT's and stage 1's outcomes (stage 1's file holds both)
                   history="workdirs/dapo_qwen2_5_72b_stage1/solve_history.jsonl",
                   # T split in two over the context axis (ring attention): on a v5p-128
                   # (4x4x8) a device holds one 65,536-token half-row.
                   mesh=dict(data=1, fsdp=-1, tensor=8, context=2)),
    "tiny": dict(problems=4, batch=8, eps_high=0.3, max_turns=10, context=1024,
                 yarn=None, iterations=2, pool_filter=False, init="", history="",
                 mesh=dict(data=1, fsdp=-1, tensor=2, context=1)),
}


def get_config(arg: str | None = None):
  stage = arg or "stage1"
  if stage not in _STAGES:
    raise ValueError(f"configs/dapo_qwen2_5_72b.py: unknown variant {stage!r}; "
                     f"known: {', '.join(_STAGES)}")
  s = _STAGES[stage]
  c = _paper.run_config(
      f"dapo_qwen2_5_72b_{stage}", f"dapo,eval:{stage}", init=s["init"],
      max_turns=s["max_turns"], context=s["context"], yarn=s["yarn"], mesh=s["mesh"])
  c.learner.eps_high = s["eps_high"]
  del c.tasks.rft_n, c.tasks.warm_start_n  # RFT's and the warm start's
  if stage == "stage2":
    c.model.overrides.attention = "auto"
  if stage == "tiny":
    c.model.preset = "tiny"
    c.mesh.distributed = False
    c.data.microbatch_rows = 4
  c.rl = _paper.CD(dict(
      iterations=s["iterations"], problems_per_iteration=s["problems"], group_size=10,
      trajectories_per_step=s["batch"], advantage_eps=1e-6, eval_every=0,
      # The paper's stage-2 filter over the solve history of the earlier stages (a
      # previous stage's WORKDIR/solve_history.jsonl) and of this run so far.
      pool_filter=_paper.CD(dict(enabled=s["pool_filter"], history=s["history"])),
      optim=_paper.CD(dict(_paper.PAPER_OPTIM, learning_rate=1e-6, schedule="constant",
                           warmup_steps=0, total_steps=0))))
  return c
