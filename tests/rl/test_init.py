"""model.init: a run starts from a Hugging Face checkpoint (the paper's instruct model)."""
import importlib.util

import jax
import numpy as np
import pytest

from swejax import learner
from swejax import model as model_lib
from swejax.learner import build
from swejax.model.pretrained import initial_params
from swejax.rl import loop, stages


def _demo_config(variant="smoke"):
  spec = importlib.util.spec_from_file_location("demo_config", "configs/demo.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def test_the_default_demo_starts_from_the_shipped_base_model():
  config = _demo_config("default")
  assert config.model.init == "embedded:demo_base" and config.stages.startswith("eval:base")
  cfg = build.model_config(config.model)
  mesh = learner.make_mesh({"fsdp": 1}, devices=jax.devices()[:1])
  params = initial_params(config.model.init, cfg, mesh)  # the architecture is checked
  # Shipped in bfloat16: every weight is exactly representable in it, and none is zero.
  for leaf in jax.tree.leaves(params):
    x = np.asarray(leaf, np.float32)
    np.testing.assert_array_equal(x, np.asarray(x.astype(jax.numpy.bfloat16), np.float32))
    assert np.abs(x).max() > 0


def test_initial_params_are_the_checkpoints(tmp_path):
  config = _demo_config()
  cfg = build.model_config(config.model)
  params = model_lib.init_params(cfg, jax.random.key(3))
  model_lib.save_hf(params, cfg, str(tmp_path / "hf"))
  mesh = learner.make_mesh({"fsdp": 1}, devices=jax.devices()[:1])
  got = initial_params(str(tmp_path / "hf"), cfg, mesh)
  jax.tree.map(np.testing.assert_array_equal, got, params)
  assert initial_params("", cfg, mesh) is None


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
  config = _demo_config()
  cfg = build.model_config(config.model)
  other = model_lib.get_config("tiny", num_layers=cfg.num_layers + 1)
  model_lib.save_hf(model_lib.init_params(other, jax.random.key(0)), other, str(tmp_path / "hf"))
  mesh = learner.make_mesh({"fsdp": 1}, devices=jax.devices()[:1])
  with pytest.raises(ValueError, match=r"model.init=.*num_layers 3 != 2"):
    initial_params(str(tmp_path / "hf"), cfg, mesh)


def test_a_missing_checkpoint_fails_before_any_work(tmp_path, run_train):
  out = run_train(["--config=configs/demo.py:smoke", f"--workdir={tmp_path / 'w'}",
                   f"--config.model.init={tmp_path / 'nowhere'}"], timeout=300)
  assert out.returncode == 2, out.stderr[-2000:]
  assert "model.init" in out.stderr and "no config.json" in out.stderr
  assert not (tmp_path / "w").exists()


def test_a_stage_without_its_section_is_refused_by_key(tmp_path, run_train):
  """configs/demo.py:base carries the warm start's sections only: DAPO's keys are missing."""
  out = run_train(["--config=configs/demo.py:base", f"--workdir={tmp_path / 'w'}",
                   "--config.stages=warm_start,dapo"], timeout=300)
  assert out.returncode == 2, out.stderr[-2000:]
  assert "missing key rl.iterations" in out.stderr and "missing key rl.optim.b1" in out.stderr
  assert "Traceback" not in out.stderr and not (tmp_path / "w").exists()


def test_a_run_may_start_with_an_evaluation_of_its_init():
  assert loop.first_training_stage(["eval:base", "rft", "eval:rft", "dapo"]) == "rft"
  assert loop.first_training_stage(["warm_start", "dapo"]) == "warm_start"
  assert loop.first_training_stage(["eval:base"]) is None


def test_an_evaluation_takes_its_number_of_runs_by_name(monkeypatch):
  config = _demo_config("default")
  assert config.eval.runs == 6 and config.eval.runs_by_name.base == 5
  data = type("Data", (), {"eval_tasks": lambda self: ["task"]})()
  c = stages.Collaborators(config=config, workdir="unused", tasks=data, env=None,
                           tokenizer=type("Tok", (), {"im_end_id": 0})(), sampler=None,
                           metrics=None, new_learner=None, source=None)
  seen = []

  def rollouts(c, tasks, runs, *args):
    seen.append(runs)
    raise StopIteration  # the rollouts themselves are tested elsewhere

  monkeypatch.setattr(stages, "_rollouts", rollouts)
  for name in ("base", "rft", "dapo"):
    with pytest.raises(StopIteration):
      stages.evaluate(c, stages.LoopState(), name)
  assert seen == [5, 6, 6]
