"""The configs carry the paper's values in the one schema, and `--check` passes on each."""
import importlib.util
import json
import pathlib

import pytest

from swejax import schema
from swejax.learner import build

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
# Every config file and its variants (files starting with "_" are shared parts).
VARIANTS = {"demo": ["default", "smoke", "base", "base_tune"], "rft_qwen2_5_72b": [None],
            "dapo_qwen2_5_72b": ["stage1", "stage2", "tiny"],
            "eval_qwen2_5_72b": ["base", "rft", "stage1", "stage2"]}


def _load(name):
  spec = importlib.util.spec_from_file_location(name, CONFIGS / f"{name}.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config


def test_every_config_file_is_listed():
  assert sorted(p.stem for p in CONFIGS.glob("[!_]*.py")) == sorted(VARIANTS)


@pytest.mark.parametrize("name,variant", [(n, v) for n, vs in VARIANTS.items() for v in vs])
def test_each_config_has_exactly_the_keys_its_stages_read(name, variant):
  assert schema.problems(_load(name)(variant), strict=True) == []


@pytest.mark.parametrize("stage,problems,batch,eps_high,seq,turns,yarn,pool_filter", [
    ("stage1", 300, 128, 0.3, 65_536, 40, None, False),
    ("stage2", 100, 256, 0.26, 131_072, 80, 4.0, True),
])
def test_dapo_stages(stage, problems, batch, eps_high, seq, turns, yarn, pool_filter):
  c = _load("dapo_qwen2_5_72b")(stage)
  step = build.step_config(c, "dapo")
  assert step.loss == "dapo" and step.eps_low == 0.2 and step.eps_high == eps_high
  r = c.rl
  assert (r.problems_per_iteration, r.group_size, r.trajectories_per_step) == (problems, 10, batch)
  assert r.pool_filter.enabled == pool_filter
  assert c.agent.max_turns == turns and c.agent.length_threshold == 10
  assert c.data.seq_len == seq == c.agent.max_context_tokens
  o = c.rl.optim
  assert (o.learning_rate, o.b1, o.b2, o.eps, o.weight_decay, o.grad_clip) == (
      1e-6, 0.9, 0.999, 1e-8, 0.1, 1.0)
  assert c.eval.temperature == 1.0 and (c.eval.runs, c.eval.k) == (10, 10)
  m = step.model
  assert m.hidden_size == 8192 and m.num_layers == 80 and m.max_position_embeddings == seq
  assert (m.rope_scaling.factor if m.rope_scaling else None) == yarn
  assert dict(m.rules)["act_embed"] == "tensor" and dict(m.rules)["embed"] == "fsdp"
  assert r.trajectories_per_step % c.data.microbatch_rows == 0


def test_rft_config():
  c = _load("rft_qwen2_5_72b")(None)
  assert build.step_config(c, "sft").loss == "sft"
  r, o = c.rft, c.rft.optim
  assert (r.samples_per_task, r.epochs, r.trajectories_per_step) == (10, 1, 64)
  assert (o.learning_rate, o.weight_decay, o.warmup_steps, o.schedule) == (5e-6, 0.1, 10, "cosine")
  assert o.total_steps == 0  # the steps the kept data gives
  assert c.data.seq_len == 65_536 and c.agent.max_turns == 40


def test_eval_config():
  c = _load("eval_qwen2_5_72b")("stage2")
  assert c.stages == "eval:stage2" and (c.eval.runs, c.eval.k) == (10, 10)
  assert "learner" not in c and c.agent.max_turns == 80


def test_unknown_variant_and_fields_are_named():
  with pytest.raises(ValueError, match="stage3"):
    _load("dapo_qwen2_5_72b")("stage3")
  with pytest.raises(ValueError, match="hidden"):
    build.model_config({"preset": "tiny", "overrides": {"hidden": 3}})
  with pytest.raises(ValueError, match="act_embd"):
    build.model_config({"preset": "tiny", "rules": {"act_embd": "tensor"}})


def test_the_old_names_are_refused():
  """One name each: data.microbatch_rows, rft.optim / rl.optim, agent.max_turns."""
  c = _load("dapo_qwen2_5_72b")("stage1")
  c.rl.max_turns = 40
  c.learner.microbatch_rows = 16
  c.optim = dict(learning_rate=1e-6)
  found = schema.problems(c)
  for key in ("rl.max_turns", "learner.microbatch_rows", "optim.learning_rate"):
    assert f"config: unread key {key} (no stage reads it); remove it" in found
  del c.agent.max_turns
  assert any("missing key agent.max_turns" in p for p in schema.problems(c))


# Small-model overrides: the demo's model, tasks and in-process sampler, a local sandbox.
SMALL = ["--config.model.preset=tiny", "--config.model.init=", "--config.mesh.fsdp=1",
         "--config.mesh.tensor=1", "--config.mesh.context=1", "--config.mesh.distributed=false",
         "--config.tasks.path=", "--config.tasks.eval_path=", "--config.tasks.eval_n=8",
         "--config.tasks.hints=true", "--config.sampler.kind=jax",
         "--config.sampler.max_slots=8", "--config.sandbox.backend=local"]
NO_INIT = ["--config.model.init="]
NO_HISTORY = ["--config.rl.pool_filter.history="]


def _check(config_arg, overrides, workdir):
  from swejax.rl import main  # the command's own entry, in process
  import contextlib
  import io
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    rc = main.main([f"--config={config_arg}", "--check", f"--workdir={workdir}", *overrides])
  return rc, json.loads(out.getvalue())


@pytest.mark.parametrize("name,variant", [(n, v) for n, vs in VARIANTS.items() for v in vs])
def test_check_passes_with_small_model_overrides(name, variant, tmp_path):
  arg = str(CONFIGS / f"{name}.py") + (f":{variant}" if variant else "")
  overrides = [] if name == "demo" else SMALL
  if name == "dapo_qwen2_5_72b":
    overrides = overrides + NO_HISTORY
  if name == "demo" and variant == "base_tune":
    overrides = NO_INIT  # its init is the :base run's export
  rc, out = _check(arg, overrides, tmp_path / "w")
  assert out["problems"] == [] and rc == 0
  plan = out["plan"]
  assert [p["stage"] for p in plan["plan"]] == plan["stages"]
  assert not (tmp_path / "w").exists()  # --check trains nothing and writes nothing


def test_check_plans_the_papers_numbers(tmp_path):
  rc, out = _check(str(CONFIGS / "dapo_qwen2_5_72b.py") + ":stage2", SMALL + NO_HISTORY,
                   tmp_path)
  assert rc == 0
  dapo, ev = out["plan"]["plan"]
  assert dapo["iterations"] == 20 and dapo["episodes_per_iteration"] == 1000
  assert dapo["optimizer_steps_per_iteration_at_most"] == 4  # 1000 / 256
  assert dapo["learner"]["eps_high"] == 0.26 and dapo["config"]["rl.optim.learning_rate"] == 1e-6
  assert dapo["config"]["rl.pool_filter.enabled"] is True and ev["runs"] == 10 and ev["k"] == 10
  assert out["plan"]["run"]["agent.max_turns"] == 80
  rc, out = _check(str(CONFIGS / "rft_qwen2_5_72b.py"), SMALL, tmp_path)
  rft = out["plan"]["plan"][0]
  assert rft["config"]["rft.samples_per_task"] == 10 and rft["config"]["rft.optim.warmup_steps"] == 10


def test_check_lists_every_problem_and_exits_nonzero(tmp_path):
  rc, out = _check(str(CONFIGS / "rft_qwen2_5_72b.py"), [], tmp_path)
  assert rc == 1
  text = "\n".join(out["problems"])
  assert "model.init" in text and "data/swe_rebench_train.jsonl" in text
  assert "sampler.urls" in text


def test_stage_2s_pool_is_the_papers_filter_over_the_history(tmp_path):
  """Solved >= 2/3 of the time, or never: dropped; the plan shows the pool before and after."""
  from swejax.config import parse_flags
  from swejax.rl.task_sets import TaskSets
  arg = str(CONFIGS / "dapo_qwen2_5_72b.py") + ":stage2"
  config, _ = parse_flags([f"--config={arg}", *SMALL, *NO_HISTORY], "test")
  pool = [t.instance_id for t in TaskSets(config, str(tmp_path)).pool]
  history = tmp_path / "solve_history.jsonl"
  rows = [(pool[0], [1, 1, 0]), (pool[1], [0, 0, 0]), (pool[2], [1, 0, 0])]
  history.write_text("".join(json.dumps({"instance_id": t, "solves": s}) + "\n"
                             for t, s in rows))
  rc, out = _check(arg, SMALL + [f"--config.rl.pool_filter.history={history}"], tmp_path)
  assert rc == 0, out["problems"]
  assert out["plan"]["plan"][0]["pool"] == {"before_filter": len(pool),
                                            "after_filter": len(pool) - 2, "history_tasks": 3}
  rc, out = _check(arg, SMALL + [f"--config.rl.pool_filter.history={tmp_path / 'none'}"],
                   tmp_path)
  assert rc == 1 and any("rl.pool_filter.history" in p for p in out["problems"])
