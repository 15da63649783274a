"""Ahead-of-time compilation of the train step for TPU topologies (needs libtpu)."""
import importlib.util
import json
import pathlib

import pytest

pytestmark = pytest.mark.slow
if importlib.util.find_spec("libtpu") is None:
  pytest.skip("libtpu is not installed (pip install 'swejax[tpu]'); the TPU compiler is needed "
              "for ahead-of-time compilation", allow_module_level=True)

from swejax import aot  # noqa: E402  pylint: disable=g-import-not-at-top

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"


def _config(variant):
  spec = importlib.util.spec_from_file_location("dapo72", CONFIGS / "dapo_qwen2_5_72b.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(variant)


def test_tiny_config_compiles_for_v5p_and_fits(capsys):
  rc = aot.main([f"--config={CONFIGS / 'dapo_qwen2_5_72b.py'}:tiny", "--topology=v5p:2x2x2"])
  report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert rc == 0 and report["topology"] == "v5p:2x2x2"
  assert report["chips"] == 8 and report["mesh"]["tensor"] == 2 and report["mesh"]["fsdp"] == 4
  assert report["fits"] is True
  assert 0 < report["peak_bytes_per_device"] < report["hbm_bytes_per_device"]
  # Inputs alone: f32 params + two Adam moments, split 8 ways, at least.
  assert report["argument_bytes"] >= 3 * 4 * report["model_params"] / 8 * 0.9


def test_model_too_big_for_topology_does_not_fit():
  c = _config("tiny")
  c.model.preset = "qwen2.5-7b"  # 7.6B params x 16 bytes of state over 4 x 16 GiB: no
  c.data.microbatch_rows = 4
  report = aot.compile_report(c, "v5e:2x2")
  assert report["fits"] is False


def test_unknown_topology_is_a_clear_error():
  with pytest.raises(ValueError, match="v9z"):
    aot.compile_report(_config("tiny"), "v9z:2x2")
