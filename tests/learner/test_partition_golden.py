"""Golden table: every parameter's PartitionSpec for Qwen2.5-72B on a fsdp x tensor mesh.

Regenerate after an intended change of the rules table or the parameter layout with
    JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=8 \
      python -m tests.learner.test_partition_golden
and review the diff.
"""
import pathlib

import jax

from swejax import learner
from swejax import model as model_lib

GOLDEN = pathlib.Path(__file__).parent / "golden" / "qwen2_5_72b_fsdp_tensor_specs.txt"


def spec_table() -> str:
  cfg = model_lib.get_config("qwen2.5-72b")
  mesh = learner.make_mesh({"fsdp": 2, "tensor": 4}, devices=jax.devices()[:8])
  shardings = learner.param_shardings(cfg, mesh)
  abstract = model_lib.abstract_params(cfg)
  lines = ["# path\tshape\tPartitionSpec (mesh axes data, fsdp, tensor, context)"]
  for (path, sh), leaf in zip(jax.tree_util.tree_flatten_with_path(shardings)[0],
                              jax.tree.leaves(abstract)):
    lines.append(f"{jax.tree_util.keystr(path)}\t{tuple(leaf.shape)}\t{sh.spec}")
  return "\n".join(lines) + "\n"


def test_72b_partition_specs_match_golden_table():
  got = spec_table()
  want = GOLDEN.read_text()
  assert got == want, ("PartitionSpecs changed; if intended, regenerate with "
                       "`python -m tests.learner.test_partition_golden` and review the diff")
  assert got.count("\n") - 1 == len(jax.tree.leaves(model_lib.abstract_params(
      model_lib.get_config("qwen2.5-72b"))))


if __name__ == "__main__":
  assert len(jax.devices()) >= 8, (
      "run with 8 devices: XLA_FLAGS=--xla_force_host_platform_device_count=8")
  GOLDEN.write_text(spec_table())
  print(f"wrote {GOLDEN}")
