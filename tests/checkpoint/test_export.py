"""`swejax convert WORKDIR/checkpoints/N DST`: a run's orbax checkpoint in Hugging Face form,
read into the abstract state (no random weights first)."""
import importlib.util
import json
import os

import jax
import numpy as np

from swejax import learner
from swejax.checkpoint import Checkpointer
from swejax.cli import main as cli_main
from swejax.learner import build
from swejax.learner.trainer import Learner
from swejax.model import hf


def _demo_config():
  spec = importlib.util.spec_from_file_location("demo_config", "configs/demo.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("smoke")
  config.model.init = ""
  return config


def test_a_runs_checkpoint_converts_with_its_tokenizer(tmp_path):
  config = _demo_config()
  workdir = tmp_path / "run"
  os.makedirs(workdir)
  (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
  mesh = learner.make_mesh({"fsdp": -1})
  trained = Learner(build.step_config(config, "sft"), build.stage_optim(config, "rft"), mesh,
                    seed=5)
  with Checkpointer(str(workdir), keep=2) as ckpt:
    ckpt.save(3, trained.state, {}, {"optim_stage": "rft", "saves": 3})
  assert cli_main(["convert", str(workdir / "checkpoints" / "3"), str(tmp_path / "hf"),
                   "--dtype=float32"]) == 0
  assert (tmp_path / "hf" / "tokenizer.json").is_file()
  _, back = hf.load_hf(str(tmp_path / "hf"), "float32")
  for a, b in zip(jax.tree.leaves(trained.params), jax.tree.leaves(back)):
    np.testing.assert_array_equal(np.asarray(b), np.asarray(a, np.float32))
  assert json.loads((tmp_path / "hf" / "config.json").read_text())["num_hidden_layers"] == 2


def test_a_path_that_is_neither_is_named(tmp_path, capsys):
  assert cli_main(["convert", str(tmp_path / "checkpoints" / "x"), str(tmp_path / "o")]) == 2
  assert "WORKDIR/checkpoints/N" in capsys.readouterr().err
