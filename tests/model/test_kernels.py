"""Platform kernels behind `attention(...)`: numerics, lowering, and the automatic choice."""
import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from swejax.model import config as config_lib
from swejax.model import kernels
from swejax.model.attention import attention, xla_attention
from swejax.model.config import DEFAULT_RULES


def _inputs(b=2, t=256, n=4, k=2, h=32, dtype=jnp.float32, seed=0):
  rng = np.random.default_rng(seed)
  q = jnp.asarray(rng.normal(size=(b, t, n, h)), dtype)
  kk = jnp.asarray(rng.normal(size=(b, t, k, h)), dtype)
  v = jnp.asarray(rng.normal(size=(b, t, k, h)), dtype)
  seg = np.ones((b, t), np.int32)
  seg[0, 50:] = 2
  seg[0, 130:] = 3  # crosses the 128-token kernel block boundary
  seg[0, t - 20:] = 0
  seg[1, 100:] = 2
  w = jnp.asarray(rng.normal(size=q.shape), jnp.float32)
  return q, kk, v, jnp.asarray(seg), w


def _out_and_grads(fn, q, k, v, w):
  o, vjp = jax.vjp(fn, q, k, v)
  return (o, *vjp(w.astype(o.dtype)))


def test_splash_equals_reference_in_the_pallas_interpreter():
  q, k, v, seg, w = _inputs()
  splash = lambda q, k, v: kernels.splash_attention(  # noqa: E731
      q, k, v, seg, rules=DEFAULT_RULES, block_q=128, block_k=128, interpret=True)
  got = jax.jit(lambda q, k, v: _out_and_grads(splash, q, k, v, w))(q, k, v)
  want = _out_and_grads(lambda q, k, v: xla_attention(q, k, v, seg), q, k, v, w)
  for name, a, b in zip(("out", "dq", "dk", "dv"), got, want):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0, err_msg=name)


def test_splash_rejects_a_length_it_cannot_tile():
  q, k, v, seg, _ = _inputs(t=200)
  with pytest.raises(ValueError, match="T=200 must be a multiple of 128"):
    kernels.splash_attention(q, k, v, seg, rules=DEFAULT_RULES, interpret=True)


@pytest.mark.parametrize("kw,expected", [
    (dict(context=4, platform="tpu", device_kind="TPU v5"), "ring"),
    (dict(context=1, platform="tpu", device_kind="TPU v5"), "splash"),
    (dict(context=1, platform="gpu", device_kind="NVIDIA H100 80GB HBM3"), "cudnn"),
    (dict(context=1, platform="gpu", device_kind="AMD Instinct MI300X"), "xla"),
    (dict(context=1, platform="cpu", device_kind="cpu"), "xla"),
])
def test_pick_by_platform(kw, expected):
  assert kernels.pick(seq_len=1024, head_dim=128, dtype=jnp.bfloat16, **kw) == expected


def test_pick_by_length_head_dim_and_dtype():
  gpu = dict(context=1, platform="gpu", device_kind="NVIDIA H200")
  pick = lambda **kw: kernels.pick(**{"head_dim": 128, "dtype": jnp.bfloat16, **kw})  # noqa: E731
  assert pick(seq_len=kernels.CUDNN_MAX_T, **gpu) == "cudnn"
  assert pick(seq_len=kernels.CUDNN_MAX_T * 2, **gpu) == "blockwise"
  assert pick(seq_len=1024, dtype=jnp.float32, **gpu) == "xla"  # cuDNN is 16-bit only
  assert pick(seq_len=1, **gpu) == "xla"  # init-time rows cuDNN cannot tile
  assert pick(seq_len=1024, head_dim=160, **gpu) == "xla"
  cpu = dict(context=1, platform="cpu", device_kind="cpu")
  assert pick(seq_len=kernels.XLA_MAX_T, **cpu) == "xla"
  assert pick(seq_len=kernels.XLA_MAX_T * 2, **cpu) == "blockwise"
  tpu = dict(context=1, platform="tpu", device_kind="TPU v5")
  assert pick(seq_len=1000, **tpu) == "xla"  # not 128-tileable


def test_choose_reads_the_mesh_and_honours_an_explicit_choice():
  from swejax.learner.mesh import make_mesh
  assert kernels.choose("auto", seq_len=64, dtype=jnp.float32) == "xla"  # CPU, no mesh
  assert kernels.choose("blockwise", seq_len=64, dtype=jnp.float32) == "blockwise"
  with jax.set_mesh(make_mesh(dict(data=1, fsdp=1, tensor=2, context=4))):
    assert kernels.choose("auto", seq_len=64, dtype=jnp.float32) == "ring"
    assert kernels.choose("xla", seq_len=64, dtype=jnp.float32) == "xla"
  with jax.set_mesh(make_mesh(dict(data=1, fsdp=4, tensor=2, context=1))):
    assert kernels.choose("auto", seq_len=4096, dtype=jnp.float32) == "blockwise"
  with pytest.raises(ValueError, match="flash"):
    kernels.choose("flash", seq_len=64, dtype=jnp.float32)


def test_auto_attention_on_cpu_equals_reference():
  q, k, v, seg, _ = _inputs(t=64)
  np.testing.assert_allclose(attention(q, k, v, seg, impl="auto"), xla_attention(q, k, v, seg),
                             atol=1e-6, rtol=0)


def test_config_accepts_every_implementation_and_names_a_bad_one():
  assert config_lib._ATTENTION == kernels.IMPLEMENTATIONS  # pylint: disable=protected-access
  for impl in kernels.IMPLEMENTATIONS:
    assert config_lib.get_config("tiny", attention=impl).attention == impl
  with pytest.raises(ValueError, match="'flash'"):
    config_lib.get_config("tiny", attention="flash")


def test_cudnn_needs_16_bit_inputs():
  q, k, v, seg, _ = _inputs(t=64)
  with pytest.raises(ValueError, match="bfloat16"):
    kernels.cudnn_attention(q, k, v, seg, rules=DEFAULT_RULES)


def _has_nvidia_gpu() -> bool:
  try:
    return any("nvidia" in d.device_kind.lower() for d in jax.devices("gpu"))
  except RuntimeError:
    return False


@pytest.mark.skipif(not _has_nvidia_gpu(), reason="needs an NVIDIA GPU (cuDNN flash attention); "
                    "this machine has none, and the tests force JAX_PLATFORMS=cpu")
def test_cudnn_equals_reference_on_gpu():
  q, k, v, seg, w = _inputs(t=512, h=64, dtype=jnp.bfloat16)
  gpu = jax.devices("gpu")[0]
  q, k, v, seg, w = jax.device_put((q, k, v, seg, w), gpu)
  got = jax.jit(lambda q, k, v: _out_and_grads(
      lambda q, k, v: attention(q, k, v, seg, impl="auto"), q, k, v, w))(q, k, v)
  hlo = jax.jit(lambda q, k, v: attention(q, k, v, seg, impl="auto")).lower(q, k, v).as_text()
  assert "cudnn" in hlo  # chosen automatically on this platform
  f32 = lambda x: x.astype(jnp.float32)  # noqa: E731
  want = _out_and_grads(lambda q, k, v: xla_attention(q, k, v, seg),
                        f32(q), f32(k), f32(v), w)
  real = np.asarray(seg)[:, :, None, None] != 0  # padding rows are never read by the loss
  for name, a, b in zip(("out", "dq", "dk", "dv"), got, want):
    a, b = np.asarray(f32(a)), np.asarray(b)
    np.testing.assert_allclose(np.where(real, a, 0), np.where(real, b, 0), atol=5e-2, rtol=5e-2,
                               err_msg=name)


# ----------------------------------------------------------------------------- TPU (AOT)
_NO_LIBTPU = importlib.util.find_spec("libtpu") is None


@pytest.mark.slow
@pytest.mark.skipif(_NO_LIBTPU, reason="libtpu is not installed (pip install 'swejax[tpu]'); "
                    "the TPU compiler is needed to lower for a TPU topology")
@pytest.mark.parametrize("context,kernel_mark", [(1, "tpu_custom_call"),
                                                 (2, "collective_permute")])
def test_auto_lowers_for_a_tpu_topology(context, kernel_mark):
  """On a v5p mesh (from this CPU host), "auto" is splash without a context axis and the
  ring with one; both compile for the TPU, forward and backward."""
  from jax.sharding import NamedSharding, PartitionSpec as P
  from swejax import aot
  from swejax.learner.mesh import make_mesh
  mesh = make_mesh(dict(data=1, fsdp=-1, tensor=2, context=context),
                   devices=aot.get_topology("v5p:2x2x2").devices)
  b, t, n, kh, h = 4, 1024, 8, 2, 128
  act = NamedSharding(mesh, P(("data", "fsdp"), "context", "tensor", None))
  args = [jax.ShapeDtypeStruct((b, t, n, h), jnp.bfloat16, sharding=act),
          jax.ShapeDtypeStruct((b, t, kh, h), jnp.bfloat16, sharding=act),
          jax.ShapeDtypeStruct((b, t, kh, h), jnp.bfloat16, sharding=act),
          jax.ShapeDtypeStruct((b, t), jnp.int32,
                               sharding=NamedSharding(mesh, P(("data", "fsdp"), "context")))]

  def loss_grads(q, k, v, seg):
    f = lambda q, k, v: attention(q, k, v, seg, impl="auto").astype(jnp.float32).sum()  # noqa: E731
    return jax.grad(f, argnums=(0, 1, 2))(q, k, v)

  with jax.set_mesh(mesh):
    expected = "splash" if context == 1 else "ring"
    assert kernels.choose("auto", seq_len=t, dtype=jnp.bfloat16) == expected
    lowered = jax.jit(loss_grads).lower(*args)
    assert kernel_mark in lowered.as_text()
    compiled = lowered.compile()
  assert compiled.memory_analysis().temp_size_in_bytes > 0
