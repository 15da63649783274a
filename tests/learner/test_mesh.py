"""Mesh sizes from config and the Auto axis types."""
import jax
import pytest
from jax.sharding import AxisType

from swejax import learner


def test_mesh_shape_fills_the_rest():
  assert learner.mesh_shape({"fsdp": -1, "tensor": 4}, 64) == (1, 16, 4, 1)
  assert learner.mesh_shape({"data": 2, "fsdp": 2, "tensor": 2}, 8) == (2, 2, 2, 1)
  assert learner.mesh_shape(None, 8) == (1, 8, 1, 1)
  assert learner.mesh_shape({"data": -1, "fsdp": 2}, 8) == (4, 2, 1, 1)


@pytest.mark.parametrize("section,devices,match", [
    ({"fsdp": -1, "tensor": 3}, 8, "not divisible"),
    ({"fsdp": 2, "tensor": 2}, 8, "multiply to 4"),
    ({"fsdp": -1, "data": -1}, 8, "at most one -1"),
    ({"tensor": 0}, 8, "positive"),
])
def test_mesh_shape_errors(section, devices, match):
  with pytest.raises(ValueError, match=match):
    learner.mesh_shape(section, devices)


def test_make_mesh_on_fake_devices():
  mesh = learner.make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
  assert mesh.axis_names == ("data", "fsdp", "tensor", "context")
  assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2, "context": 1}
  assert all(t == AxisType.Auto for t in mesh.axis_types)
  assert sorted(d.id for d in mesh.devices.flat) == sorted(d.id for d in jax.devices())


def test_distributed_only_when_asked():
  assert learner.maybe_initialize_distributed({"distributed": False}) is False
  assert learner.maybe_initialize_distributed(None) is False
