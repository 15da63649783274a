"""Weight export (sharded params -> Hugging Face bfloat16) and the reload protocol, no vLLM."""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, Mesh

from swejax import model as model_lib
from swejax.model import safetensors_io as st
from swejax.model.sharding import named_shardings
from swejax.sampling import DiskWeightSync, SamplerError, WeightSyncError, export_hf_weights
from swejax.sampling.weight_sync import (RELOAD_METHOD, SWEJAX_EXTENSION, SWEJAX_METHOD,
                                          reload_server)


@pytest.fixture(scope="module")
def tiny():
  cfg = model_lib.get_config("tiny", tie_embeddings=False)  # lm_head too
  return cfg, jax.jit(model_lib.init_params, static_argnums=0)(cfg, jax.random.key(3))


def test_export_is_the_bfloat16_checkpoint_save_hf_writes(tiny, tmp_path):
  cfg, params = tiny
  nbytes = export_hf_weights(params, cfg, str(tmp_path / "ours"))
  model_lib.save_hf(params, cfg, str(tmp_path / "ref"), dtype="bfloat16")
  ours = (tmp_path / "ours" / "model.safetensors").read_bytes()
  assert ours == (tmp_path / "ref" / "model.safetensors").read_bytes()
  assert nbytes == 2 * sum(x.size for x in jax.tree.leaves(params))
  assert not (tmp_path / "ours.partial").exists()
  _, loaded = model_lib.load_hf(str(tmp_path / "ours"))
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(
      np.asarray(a), np.asarray(b.astype(jnp.bfloat16).astype(jnp.float32))), loaded, params)


def test_tied_embedding_is_also_written_as_the_head(tmp_path):
  # vLLM's CPU backend refreshes a tied head on reload only when lm_head.weight is given.
  cfg = model_lib.get_config("tiny")
  assert cfg.tie_embeddings
  params = jax.jit(model_lib.init_params, static_argnums=0)(cfg, jax.random.key(4))
  nbytes = export_hf_weights(params, cfg, str(tmp_path / "w"))
  tensors = st.LazyTensors([str(tmp_path / "w" / "model.safetensors")])
  np.testing.assert_array_equal(np.asarray(tensors["lm_head.weight"]),
                                np.asarray(params["embed"].astype(jnp.bfloat16)))
  assert nbytes == 2 * (sum(x.size for x in jax.tree.leaves(params)) + params["embed"].size)
  _, loaded = model_lib.load_hf(str(tmp_path / "w"))  # still an ordinary tied checkpoint
  assert "lm_head" not in loaded


def _pointers(buffers):
  return {path: sorted(s.data.unsafe_buffer_pointer() for s in x.addressable_shards)
          for path, (_, x) in buffers.items()}


@pytest.mark.parametrize("sharded", [False, True])
def test_an_export_reuses_the_last_ones_memory(tiny, tmp_path, sharded):
  """With `buffers`, each block is computed over the last export's (donated): the same
  memory, the right bytes; parameters of another layout get new blocks."""
  cfg, params = tiny
  if sharded:
    mesh = Mesh(np.array(jax.devices()[:8]).reshape(1, 4, 1, 2),
                ("data", "fsdp", "context", "tensor"), axis_types=(AxisType.Auto,) * 4)
    params = jax.device_put(params, named_shardings(model_lib.param_axes(cfg), mesh,
                                                    cfg.rules))
  buffers: dict = {}
  export_hf_weights(params, cfg, str(tmp_path / "a"), buffers=buffers)
  assert len(buffers) == len(jax.tree.leaves(params))
  first = _pointers(buffers)
  new = jax.tree.map(lambda x: x * 1.5, params)
  export_hf_weights(new, cfg, str(tmp_path / "b"), buffers=buffers)
  assert _pointers(buffers) == first
  export_hf_weights(new, cfg, str(tmp_path / "ref"))
  assert ((tmp_path / "b" / "model.safetensors").read_bytes() ==
          (tmp_path / "ref" / "model.safetensors").read_bytes())
  # Another layout (here: unsharded, or float16 where it was bfloat16) makes new blocks.
  other = jax.device_put(new, jax.devices()[0]) if sharded else new
  dtype = "bfloat16" if sharded else "float16"
  export_hf_weights(other, cfg, str(tmp_path / "c"), buffers=buffers, dtype=dtype)
  for _, x in buffers.values():
    assert x.dtype == jnp.dtype(dtype) and len(x.sharding.device_set) == 1
  export_hf_weights(other, cfg, str(tmp_path / "ref2"), dtype=dtype)
  assert ((tmp_path / "c" / "model.safetensors").read_bytes() ==
          (tmp_path / "ref2" / "model.safetensors").read_bytes())


def test_the_sync_keeps_export_buffers_only_for_host_memory(tiny, tmp_path, stubs):
  cfg, params = tiny
  (s,) = stubs(1)
  sync = DiskWeightSync(cfg, str(tmp_path / "staging"))
  sync(params, 1, [s.url])
  assert len(sync._buffers) == len(jax.tree.leaves(params))  # CPU devices: kept
  off = DiskWeightSync(cfg, str(tmp_path / "staging2"), reuse_buffers=False)
  off(params, 1, [s.url])
  assert not off._buffers


def test_sharded_params_export_the_same_bytes(tiny, tmp_path):
  cfg, params = tiny
  devices = np.array(jax.devices()[:8]).reshape(1, 4, 1, 2)
  mesh = Mesh(devices, ("data", "fsdp", "context", "tensor"),
              axis_types=(AxisType.Auto,) * 4)
  shardings = named_shardings(model_lib.param_axes(cfg), mesh, cfg.rules)
  sharded = jax.device_put(params, shardings)
  assert len(sharded["layers"]["mlp"]["up_kernel"].sharding.device_set) == 8
  export_hf_weights(sharded, cfg, str(tmp_path / "sharded"))
  export_hf_weights(params, cfg, str(tmp_path / "plain"))
  assert ((tmp_path / "sharded" / "model.safetensors").read_bytes() ==
          (tmp_path / "plain" / "model.safetensors").read_bytes())


def test_reload_protocol_order(stubs):
  (s,) = stubs(1)
  reload_server(s.url, "/weights/v7", 7)
  posts = [c for c in s.calls if c.startswith("POST")]
  assert posts == ["POST /pause?mode=wait&clear_cache=false", "POST /collective_rpc", "POST /reset_prefix_cache",
                   "POST /update_weight_version", "POST /resume"]
  assert s.reloaded == [{"method": "reload_weights", "kwargs": {"weights_path": "/weights/v7"}}]
  assert s.weight_version == "7" and not s.paused


def test_failed_prefix_cache_reset_keeps_the_server_paused(stubs):
  (s,) = stubs(1)
  s.reset_ok = False
  with pytest.raises(SamplerError, match="reset_prefix_cache"):
    reload_server(s.url, "/weights/v1", 1, reset_tries=3)
  assert s.paused and s.weight_version == "default"
  assert "POST /resume" not in s.calls


def test_disk_sync_names_failed_servers_and_keeps_the_newest_export(tiny, stubs, tmp_path,
                                                                    monkeypatch):
  cfg, params = tiny
  (s,) = stubs(1)
  monkeypatch.chdir(tmp_path)  # a relative staging directory works too
  sync = DiskWeightSync(cfg, "staging")
  staging = tmp_path / "staging"
  sync(params, 1, [s.url])
  sync(params, 2, [s.url])
  assert sorted(os.listdir(staging)) == ["v00000002"]
  assert s.reloaded[-1]["kwargs"]["weights_path"] == str(staging / "v00000002")
  assert sync.last_stats["bytes"] == 2 * sum(x.size for x in jax.tree.leaves(params))
  dead = "http://127.0.0.1:9"  # discard port: nothing listens
  with pytest.raises(WeightSyncError) as e:
    sync(params, 3, [s.url, dead])
  assert list(e.value.failed) == [dead] and s.weight_version == "3"


@pytest.mark.parametrize("extension", [True, False])
def test_disk_sync_uses_the_servers_loader_and_pauses_first(tiny, stubs, tmp_path, extension):
  cfg = model_lib.get_config("tiny")  # tied: the head copy depends on the loader
  params = jax.jit(model_lib.init_params, static_argnums=0)(cfg, jax.random.key(5))
  (s,) = stubs(1)
  s.worker_extension_cls = SWEJAX_EXTENSION if extension else ""
  sync = DiskWeightSync(cfg, str(tmp_path / "staging"))
  for v in (1, 2):
    sync(params, v, [s.url])
  method = SWEJAX_METHOD if extension else RELOAD_METHOD
  assert [b["method"] for b in s.reloaded] == [method, method]
  posts = [c for c in s.calls if c.startswith("POST")]
  assert posts.index("POST /pause?mode=wait&clear_cache=false") < posts.index("POST /collective_rpc")
  assert s.weight_version == "2" and not s.paused
  tensors = st.LazyTensors([str(tmp_path / "staging" / "v00000002" / "model.safetensors")])
  # vLLM's reload needs the tied head named; swejax's loader does not (after the first
  # sync, which cannot know the server's loader yet).
  assert ("lm_head.weight" in tensors.keys()) == (not extension)


def test_failed_export_resumes_the_paused_servers(tiny, stubs, tmp_path, monkeypatch):
  cfg, params = tiny
  (s,) = stubs(1)
  sync = DiskWeightSync(cfg, str(tmp_path / "staging"))

  def broken(*a, **kw):
    raise OSError("disk full")

  monkeypatch.setattr(sync, "_export", broken)
  with pytest.raises(OSError, match="disk full"):
    sync(params, 1, [s.url])
  assert "POST /pause?mode=wait&clear_cache=false" in s.calls and not s.paused and not s.reloaded


def test_an_export_overwrites_the_last_one_in_place(tiny, stubs, tmp_path):
  # The newest export takes over the pages of the one before (a memory file system
  # allocates and frees nothing); what it holds is a fresh export of the new weights.
  cfg, params = tiny
  (s,) = stubs(1)
  sync = DiskWeightSync(cfg, str(tmp_path / "staging"))
  sync(params, 1, [s.url])
  first = os.stat(tmp_path / "staging" / "v00000001" / "model.safetensors").st_ino
  new = jax.tree.map(lambda x: x * 3.0, params)
  sync(new, 2, [s.url])
  got = tmp_path / "staging" / "v00000002" / "model.safetensors"
  assert os.stat(got).st_ino == first
  export_hf_weights(new, cfg, str(tmp_path / "fresh"))
  assert got.read_bytes() == (tmp_path / "fresh" / "model.safetensors").read_bytes()
  assert sorted(os.listdir(tmp_path / "staging")) == ["v00000002"]


def test_the_loader_is_asked_once_and_again_after_a_failed_load(tiny, stubs, tmp_path):
  cfg, params = tiny
  (s,) = stubs(1)
  s.worker_extension_cls = SWEJAX_EXTENSION
  sync = DiskWeightSync(cfg, str(tmp_path / "staging"))
  asked = lambda: s.calls.count("GET /server_info")  # noqa: E731
  sync(params, 1, [s.url])
  sync(params, 2, [s.url])
  assert asked() == 1
  s.rpc_status = 500
  with pytest.raises(WeightSyncError):
    sync(params, 3, [s.url])
  s.rpc_status = 200
  sync(params, 4, [s.url])
  assert asked() == 2 and s.weight_version == "4"


def test_a_server_with_swejax_endpoints_syncs_in_two_requests(tiny, stubs, tmp_path):
  cfg, params = tiny
  (s,) = stubs(1)
  s.worker_extension_cls, s.endpoints = SWEJAX_EXTENSION, True
  sync = DiskWeightSync(cfg, str(tmp_path / "staging"))
  sync(params, 1, [s.url])
  posts = [c for c in s.calls if c.startswith("POST")]
  assert posts == ["POST /swejax/pause", "POST /swejax/load"]
  assert s.reloaded == [{"method": SWEJAX_METHOD,
                         "kwargs": {"weights_path": str(tmp_path / "staging" / "v00000001")}}]
  assert s.weight_version == "1" and not s.paused
  assert sync.last_stats["swejax_endpoints"] == 1
  # A failed load leaves the server paused (the fleet then leaves it out) and makes the
  # sync ask again what the server has.
  s.rpc_status = 500
  with pytest.raises(WeightSyncError, match="scripted worker failure"):
    sync(params, 2, [s.url])
  assert s.paused and s.weight_version == "1"
  s.rpc_status = 200
  sync(params, 3, [s.url])
  assert s.weight_version == "3" and not s.paused
  assert s.calls.count("GET /swejax/info") == 2
