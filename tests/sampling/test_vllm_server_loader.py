"""swejax's in-place loader for vLLM servers, on a stand-in of vLLM's module tree (torch only).

The real servers run it in tests/sampling/test_vllm_fleet.py; here each rule is checked
against modules shaped like vLLM's CPU layers: merged projections, a linear layer whose
weight vLLM freed after packing it for oneDNN, and an embedding tied to the head.
"""
from __future__ import annotations

import itertools

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from swejax.sampling.vllm_server import swejax_weight_loader as loader

K = 8


class _Handler:  # like vllm._custom_ops.CPUDNNLGEMMHandler
  def __init__(self, n, k, handle):
    self.n, self.k, self.handler_tensor = n, k, torch.tensor(handle, dtype=torch.int64)


class _Merged(nn.Module):
  """A merged projection that kept its weight (the torch fallback kernel)."""

  def __init__(self, sizes, bias):
    super().__init__()
    self.output_sizes = sizes
    self.weight = nn.Parameter(torch.zeros(sum(sizes), K), requires_grad=False)
    if bias:
      self.bias = nn.Parameter(torch.zeros(sum(sizes)), requires_grad=False)


class _Packed(nn.Module):
  """A linear layer packed for oneDNN: the weight parameter is empty, the handle holds it."""

  def __init__(self, n, handle, sizes=None):
    super().__init__()
    if sizes is not None:  # a merged projection (its parts are stacked in one pack)
      self.output_sizes = sizes
    self.weight = nn.Parameter(torch.empty(0), requires_grad=False)
    handler = _Handler(n, K, handle)
    self.cpu_linear = lambda x, weight, bias: (handler, x)


class _Embed(nn.Module):
  def __init__(self, vocab, padded, handle):
    super().__init__()
    self.org_vocab_size = vocab
    self.weight = nn.Parameter(torch.zeros(padded, K), requires_grad=False)
    handler = _Handler(padded, K, handle)
    self.cpu_linear = lambda x, weight, bias: (handler, x)


class _Toy(nn.Module):
  packed_modules_mapping = {"qkv_proj": ["q_proj", "k_proj", "v_proj"],
                            "gate_up_proj": ["gate_proj", "up_proj"]}

  def __init__(self):
    super().__init__()
    self.model = nn.Module()
    self.model.embed_tokens = _Embed(12, 16, handle=100)
    layer = nn.Module()
    layer.self_attn = nn.Module()
    layer.self_attn.qkv_proj = _Merged([8, 4, 4], bias=True)
    layer.self_attn.o_proj = _Packed(6, handle=101)
    layer.mlp = nn.Module()
    layer.mlp.gate_up_proj = _Packed(10, handle=103, sizes=[5, 5])
    self.model.layers = nn.ModuleList([layer])
    self.model.norm = nn.Module()
    self.model.norm.weight = nn.Parameter(torch.zeros(K), requires_grad=False)
    self.lm_head = _Embed(12, 16, handle=102)
    self.lm_head.weight = self.model.embed_tokens.weight  # tied


def _checkpoint(seed, head=True):
  g = torch.Generator().manual_seed(seed)
  r = lambda *s: torch.randn(*s, generator=g).to(torch.bfloat16)  # noqa: E731
  a = "model.layers.0.self_attn."
  t = {"model.embed_tokens.weight": r(12, K), "model.norm.weight": r(K),
       a + "q_proj.weight": r(8, K), a + "k_proj.weight": r(4, K), a + "v_proj.weight": r(4, K),
       a + "q_proj.bias": r(8), a + "k_proj.bias": r(4), a + "v_proj.bias": r(4),
       a + "o_proj.weight": r(6, K),
       "model.layers.0.mlp.gate_proj.weight": r(5, K), "model.layers.0.mlp.up_proj.weight": r(5, K)}
  if head:
    t["lm_head.weight"] = t["model.embed_tokens.weight"].clone()
  return t


@pytest.fixture
def handles(monkeypatch):
  """Records every packed weight; handles count up from 1000."""
  packed, released, ids = {}, [], itertools.count(1000)

  def create(weight_kn):
    h = next(ids)
    packed[h] = weight_kn.t().clone()
    return h

  monkeypatch.setattr(loader, "create_handle", create)
  monkeypatch.setattr(loader, "release_handle", released.append)
  return packed, released


def _handler(module):
  return loader._onednn_handler(module)  # noqa: SLF001


@pytest.mark.parametrize("head", [True, False])
def test_update_lands_every_tensor_and_repacks_behind_the_same_handle(tmp_path, handles, head):
  packed, released = handles
  model = _Toy()
  ckpt = _checkpoint(0, head=head)
  save_file(ckpt, str(tmp_path / "model.safetensors"))
  o_handle = _handler(model.model.layers[0].self_attn.o_proj).handler_tensor
  stats = loader.update_model_in_place(model, str(tmp_path))
  f32 = {k: v.float() for k, v in ckpt.items()}
  qkv = model.model.layers[0].self_attn.qkv_proj
  a = "model.layers.0.self_attn."
  torch.testing.assert_close(qkv.weight, torch.cat([f32[a + p + "_proj.weight"] for p in "qkv"]))
  torch.testing.assert_close(qkv.bias, torch.cat([f32[a + p + "_proj.bias"] for p in "qkv"]))
  torch.testing.assert_close(model.model.norm.weight, f32["model.norm.weight"])
  torch.testing.assert_close(model.model.embed_tokens.weight[:12], f32["model.embed_tokens.weight"])
  # The packed layer got a new handle, in the tensor compiled graphs hold, built from the
  # full new weight; the old handle was released. The tied head was repacked too.
  assert _handler(model.model.layers[0].self_attn.o_proj).handler_tensor is o_handle
  torch.testing.assert_close(packed[int(o_handle)], f32[a + "o_proj.weight"])
  # A merged packed layer is packed from all its parts at once (assembled in the scratch
  # buffer the smaller o_proj was packed from before it).
  m = "model.layers.0.mlp."
  torch.testing.assert_close(packed[int(_handler(model.model.layers[0].mlp.gate_up_proj)
                                        .handler_tensor)],
                             torch.cat([f32[m + "gate_proj.weight"], f32[m + "up_proj.weight"]]))
  assert sorted(released) == [100, 101, 102, 103] and stats["repacked"] == 4
  head_handle = int(_handler(model.lm_head).handler_tensor)
  torch.testing.assert_close(packed[head_handle][:12], f32["model.embed_tokens.weight"])
  assert stats["bytes"] == sum(v.numel() * 2 for k, v in ckpt.items() if k != "lm_head.weight")


def test_a_second_update_replaces_the_first(tmp_path, handles):
  model = _Toy()
  plan = loader._Plan(model)  # noqa: SLF001  (as the worker keeps it between updates)
  for seed in (1, 2):
    save_file(_checkpoint(seed), str(tmp_path / "model.safetensors"))
    loader.update_model_in_place(model, str(tmp_path), plan)
  torch.testing.assert_close(model.model.norm.weight,
                             _checkpoint(2)["model.norm.weight"].float())


@pytest.mark.parametrize("edit, error", [
    (lambda t: t.pop("model.layers.0.self_attn.k_proj.weight"), "k_proj|qkv_proj"),
    (lambda t: t.__setitem__("model.norm.weight", torch.zeros(K + 1, dtype=torch.bfloat16)),
     "model.norm.weight"),
    (lambda t: t.__setitem__("model.layers.0.mlp.up_proj.weight", torch.zeros(2, K)),
     "up_proj"),
])
def test_a_bad_checkpoint_is_refused_and_changes_nothing(tmp_path, handles, edit, error):
  model = _Toy()
  before = {k: v.clone() for k, v in model.state_dict().items()}
  ckpt = _checkpoint(0)
  edit(ckpt)
  save_file(ckpt, str(tmp_path / "model.safetensors"))
  with pytest.raises((ValueError, KeyError), match=error):
    loader.update_model_in_place(model, str(tmp_path))
  for k, v in model.state_dict().items():
    torch.testing.assert_close(v, before[k])
  assert not handles[0]


def test_no_checkpoint_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match=str(tmp_path)):
    loader.update_model_in_place(_Toy(), str(tmp_path))
