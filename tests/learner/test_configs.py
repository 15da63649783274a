"""The 72B configs carry the paper's values and build valid learner configs."""
import importlib.util
import pathlib

import pytest

from swejax.learner import build

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"


def _load(name):
  spec = importlib.util.spec_from_file_location(name, CONFIGS / f"{name}.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config


@pytest.mark.parametrize("stage,eps_high,seq,batch,turns,yarn", [
    ("stage1", 0.3, 65_536, 128, 40, None),
    ("stage2", 0.26, 131_072, 256, 80, 4.0),
])
def test_dapo_stages(stage, eps_high, seq, batch, turns, yarn):
  c = _load("dapo_qwen2_5_72b")(stage)
  step = build.step_config(c)
  assert step.loss == "dapo" and step.eps_low == 0.2 and step.eps_high == eps_high
  assert step.kl_coef == 0.0 and step.tis_cap is None
  assert c.data.seq_len == seq and c.rl.trajectories_per_step == batch
  assert c.rl.max_turns == turns and c.rl.group_size == 10
  assert c.rl.length_penalty_threshold == 10 and c.rl.temperature == 1.0
  assert (c.optim.learning_rate, c.optim.weight_decay, c.optim.grad_clip) == (1e-6, 0.1, 1.0)
  m = step.model
  assert m.hidden_size == 8192 and m.num_layers == 80 and m.max_position_embeddings == seq
  assert (m.rope_scaling.factor if m.rope_scaling else None) == yarn
  assert dict(m.rules)["act_embed"] == "tensor" and dict(m.rules)["embed"] == "fsdp"
  assert c.data.rows_per_step % c.learner.microbatch_rows == 0


def test_rft_config():
  c = _load("rft_qwen2_5_72b")(None)
  step = build.step_config(c)
  assert step.loss == "sft"
  assert (c.optim.learning_rate, c.optim.warmup_steps, c.optim.schedule) == (5e-6, 10, "cosine")
  assert c.rft.trajectories_per_step == 64 and c.data.seq_len == 65_536


def test_unknown_variant_and_fields_are_named():
  with pytest.raises(ValueError, match="stage3"):
    _load("dapo_qwen2_5_72b")("stage3")
  with pytest.raises(ValueError, match="hidden"):
    build.model_config({"preset": "tiny", "overrides": {"hidden": 3}})
  with pytest.raises(ValueError, match="act_embd"):
    build.model_config({"preset": "tiny", "rules": {"act_embd": "tensor"}})
