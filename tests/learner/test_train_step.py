"""The train step: exact accumulation, sharded == one device, no retracing, SFT, errors."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from swejax import learner
from swejax import model as model_lib

OPTIM = {"learning_rate": 1e-3, "weight_decay": 0.1, "grad_clip": 1.0}


def _rel(a, b):
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _model(**kw):
  # 8 heads / 4 kv heads so that tensor=4 divides every sharded dimension.
  return model_lib.get_config("tiny", num_heads=8, num_kv_heads=4, head_dim=16, **kw)


def _batch(rng, rows, t, vocab, params=None, cfg=None):
  """Packed rows with 1-3 segments, padding, uneven loss masks, and sampler log-probs."""
  tokens = rng.integers(0, vocab, (rows, t)).astype(np.int32)
  seg = np.zeros((rows, t), np.int32)
  pos = np.zeros((rows, t), np.int32)
  for r in range(rows):
    ends = np.sort(rng.choice(np.arange(4, t + 1), rng.integers(1, 4), replace=False))
    start = 0
    for s, end in enumerate(ends, 1):
      seg[r, start:end] = s
      pos[r, start:end] = np.arange(end - start)
      start = end
  loss_mask = ((rng.uniform(size=(rows, t)) < 0.6) & (seg > 0)).astype(np.float32)
  adv = rng.normal(0.0, 1.0, (rows, 1)).repeat(t, 1).astype(np.float32)
  batch = dict(tokens=tokens, positions=pos, segment_ids=seg, loss_mask=loss_mask,
               advantages=adv)
  if params is not None:
    lp = np.asarray(learner.token_logprobs(params, cfg, tokens, pos, seg))
    batch["old_logprobs"] = (lp + rng.normal(0, 0.2, lp.shape)).astype(np.float32)
  else:
    batch["old_logprobs"] = rng.uniform(-8, -1, (rows, t)).astype(np.float32)
  return batch


def _one_device_step(cfg, tx, step_cfg):
  mesh = learner.make_mesh({"fsdp": 1}, devices=jax.devices()[:1])
  return mesh, learner.make_train_step(step_cfg, tx, mesh)


def _flat(tree):
  return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def test_accumulation_equals_one_big_batch():
  cfg = _model()
  step_cfg = learner.StepConfig(model=cfg, loss="dapo", eps_low=0.2, eps_high=0.3)
  params = model_lib.init_params(cfg, jax.random.key(1))
  batch = _batch(np.random.default_rng(0), 6, 32, cfg.vocab_size, params, cfg)
  batch["loss_mask"][:3, :] *= (np.arange(32) < 8)  # microbatch 0 has far fewer tokens
  mb = learner.split_microbatches(batch, 2)
  counts = [float(np.sum(mb["loss_mask"][i] * np.asarray(learner.target_mask(
      mb["segment_ids"][i])))) for i in range(2)]
  assert counts[0] != counts[1]
  # Plain SGD with lr 1: the update is exactly minus the accumulated gradient.
  for name, tx in (("sgd", optax.sgd(1.0)), ("adamw", learner.make_tx(cfg, OPTIM))):
    step = jax.jit(functools.partial(learner.train_step, cfg=step_cfg, tx=tx))
    state = learner.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                               opt_state=tx.init(params))
    out_big, m_big = step(state, learner.split_microbatches(batch, 1))
    out_acc, m_acc = step(state, mb)
    assert _rel(m_acc["loss"], m_big["loss"]) <= 1e-6
    assert _rel(m_acc["grad_norm"], m_big["grad_norm"]) <= 1e-6
    assert float(m_acc["num_tokens"]) == float(m_big["num_tokens"]) == sum(counts)
    assert _rel(_flat(out_acc.params), _flat(out_big.params)) <= 1e-6
    if name == "sgd":
      upd_acc = _flat(out_acc.params) - _flat(params)
      upd_big = _flat(out_big.params) - _flat(params)
      assert _rel(upd_acc, upd_big) <= 1e-6
      assert np.linalg.norm(upd_big) > 1e-3


def test_padding_microbatches_change_nothing_and_are_skipped():
  cfg = _model()
  step_cfg = learner.StepConfig(model=cfg, loss="dapo", eps_low=0.2, eps_high=0.3)
  params = model_lib.init_params(cfg, jax.random.key(1))
  batch = learner.split_microbatches(_batch(np.random.default_rng(0), 2, 32, cfg.vocab_size,
                                            params, cfg), 2)
  pad = {k: np.zeros_like(v) for k, v in batch.items()}
  # Poisoned padding: a microbatch that was computed would turn the loss into NaN.
  pad["old_logprobs"][:] = np.nan
  pad["advantages"][:] = np.nan
  padded = {k: np.concatenate([v, pad[k]]) for k, v in batch.items()}  # 4 microbatches
  tx = learner.make_tx(cfg, OPTIM)
  step = jax.jit(functools.partial(learner.train_step, cfg=step_cfg, tx=tx))
  state = learner.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                             opt_state=tx.init(params))
  out, m = step(state, batch)
  out_p, m_p = step(state, padded)
  assert {k: float(v) for k, v in m.items()} == {k: float(v) for k, v in m_p.items()}
  assert all(np.isfinite(float(v)) for v in m_p.values())
  np.testing.assert_array_equal(_flat(out_p.params), _flat(out.params))


def _run(mesh_section, devices, cfg, tx, step_cfg, batches, params):
  mesh = learner.make_mesh(mesh_section, devices=devices)
  state = learner.init_state(cfg, tx, mesh, jax.random.key(0), params=params)
  step = learner.make_train_step(step_cfg, tx, mesh)
  losses = []
  for b in batches:
    state, m = step(state, b)
    losses.append(float(m["loss"]))
  return state, losses, step


def test_sharded_equals_single_device_and_no_retrace():
  cfg = _model()
  # Adam divides by sqrt(v) + eps: with the default eps=1e-8, gradient elements that are
  # pure float noise (different summation orders across devices) become lr-sized steps.
  tx = learner.make_tx(cfg, dict(OPTIM, eps=1e-6))
  step_cfg = learner.StepConfig(model=cfg, loss="dapo", eps_low=0.2, eps_high=0.3)
  params = jax.device_get(model_lib.init_params(cfg, jax.random.key(2)))
  rng = np.random.default_rng(1)
  batches = [learner.split_microbatches(_batch(rng, 16, 32, cfg.vocab_size, params, cfg), 2)
             for _ in range(3)]
  ref_state, ref_losses, _ = _run({"fsdp": 1}, jax.devices()[:1], cfg, tx, step_cfg, batches,
                                  params)
  assert len(jax.devices()) == 8
  for section in ({"fsdp": 8}, {"fsdp": 2, "tensor": 4}, {"data": 2, "fsdp": 2, "tensor": 2}):
    state, got_losses, step = _run(section, jax.devices(), cfg, tx, step_cfg, batches, params)
    assert step.jitted._cache_size() == 1, f"{section}: retraced after the first step"
    np.testing.assert_allclose(got_losses, ref_losses, rtol=1e-5, err_msg=str(section))
    assert _rel(_flat(state.params), _flat(ref_state.params)) <= 1e-5
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(state.params)[0],
                            jax.tree.leaves(ref_state.params)):
      name = jax.tree_util.keystr(path)
      # The key bias shifts every score of a query equally: softmax makes its true gradient
      # exactly 0, so all Adam sees there is float noise.
      assert _rel(a, b) <= (1e-4 if "k_bias" in name else 1e-5), f"{section}: {name}"
    emb = state.params["embed"]
    assert len(emb.sharding.device_set) == 8 and emb.addressable_shards[0].data.size < emb.size
    assert int(state.step) == 3


def test_state_is_donated_and_born_sharded():
  cfg = _model()
  tx = learner.make_tx(cfg, OPTIM)
  mesh = learner.make_mesh({"fsdp": 8})
  state = learner.init_state(cfg, tx, mesh, jax.random.key(0))
  want = learner.state_shardings(cfg, tx, mesh)
  for a, sh in zip(jax.tree.leaves(state), jax.tree.leaves(want)):
    assert a.sharding == sh
  mu = state.opt_state[1][0].mu["layers"]["mlp"]["up_kernel"]
  assert mu.sharding.spec == state.params["layers"]["mlp"]["up_kernel"].sharding.spec
  step = learner.make_train_step(learner.StepConfig(model=cfg), tx, mesh)
  batch = learner.split_microbatches(_batch(np.random.default_rng(3), 8, 16, cfg.vocab_size), 1)
  old = state.params["embed"]
  new_state, _ = step(state, batch)
  assert old.is_deleted()
  assert not new_state.params["embed"].is_deleted()


def test_sft_step_loss_and_update():
  cfg = _model()
  tx = learner.make_tx(cfg, OPTIM)
  step_cfg = learner.StepConfig(model=cfg, loss="sft")
  mesh = learner.make_mesh({"fsdp": 1}, devices=jax.devices()[:1])
  sched = learner.make_schedule({"learning_rate": 1e-3, "schedule": "cosine",
                                 "warmup_steps": 2, "total_steps": 10})
  step = learner.make_train_step(step_cfg, tx, mesh, schedule=sched)
  params = model_lib.init_params(cfg, jax.random.key(4))
  batch = _batch(np.random.default_rng(4), 4, 32, cfg.vocab_size)
  del batch["old_logprobs"], batch["advantages"]
  lp = learner.token_logprobs(params, cfg, batch["tokens"], batch["positions"],
                              batch["segment_ids"])
  mask = batch["loss_mask"] * np.asarray(learner.target_mask(batch["segment_ids"]))
  want = -float(np.sum(np.asarray(lp) * mask) / mask.sum())
  state = learner.init_state(cfg, tx, mesh, jax.random.key(0), params=params)
  losses, lrs = [], []
  for _ in range(3):
    state, m = step(state, learner.split_microbatches(batch, 2))
    losses.append(float(m["loss"]))
    lrs.append(float(m["learning_rate"]))
  assert lrs == pytest.approx([5e-4, 1e-3, 1e-3])
  assert abs(losses[0] - want) / want <= 1e-5
  assert losses[2] < losses[0]  # SFT on a fixed batch must make it more likely


def test_bf16_compute_with_f32_master_weights():
  cfg = _model(param_dtype="float32", compute_dtype="bfloat16")
  tx = learner.make_tx(cfg, OPTIM)
  mesh, step = _one_device_step(cfg, tx, learner.StepConfig(model=cfg))
  state = learner.init_state(cfg, tx, mesh, jax.random.key(0))
  batch = learner.split_microbatches(_batch(np.random.default_rng(5), 4, 32, cfg.vocab_size), 2)
  before = jax.device_get(state.params)
  state, m = step(state, batch)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.params))
  assert np.isfinite(float(m["loss"])) and float(m["grad_norm"]) > 0
  f32_cfg = _model()
  ref = learner.StepConfig(model=f32_cfg)
  _, ref_step = _one_device_step(f32_cfg, tx, ref)
  ref_state = learner.init_state(f32_cfg, tx, mesh, jax.random.key(0), params=before)
  _, m32 = ref_step(ref_state, batch)
  assert abs(float(m["loss"]) - float(m32["loss"])) <= 0.05 * abs(float(m32["loss"])) + 1e-3


def test_bad_batch_names_the_field():
  cfg = _model()
  tx = learner.make_tx(cfg, OPTIM)
  _, step = _one_device_step(cfg, tx, learner.StepConfig(model=cfg))
  state = learner.init_state(cfg, tx, learner.make_mesh({"fsdp": 1}, jax.devices()[:1]),
                             jax.random.key(0))
  batch = learner.split_microbatches(_batch(np.random.default_rng(6), 2, 16, cfg.vocab_size), 1)
  del batch["advantages"]
  with pytest.raises(ValueError, match="advantages"):
    step(state, batch)
  with pytest.raises(ValueError, match="split into 3 microbatches"):
    learner.split_microbatches({"tokens": np.zeros((4, 8))}, 3)


def test_logprobs_step_matches_token_logprobs():
  cfg = _model()
  params = model_lib.init_params(cfg, jax.random.key(7))
  batch = learner.split_microbatches(_batch(np.random.default_rng(7), 4, 16, cfg.vocab_size), 2)
  got = jax.jit(functools.partial(learner.logprobs_step, cfg=learner.StepConfig(model=cfg)))(
      params, batch)
  assert got.shape == (2, 2, 16)
  for i in range(2):
    want = learner.token_logprobs(params, cfg, batch["tokens"][i], batch["positions"][i],
                                  batch["segment_ids"][i])
    # Log-probabilities near -log(vocab) ~ -9: float32 spacing there is ~1e-6, and the
    # batched step may sum in another order (a few ulps), so the bound is relative.
    np.testing.assert_allclose(got[i], want, rtol=1e-6, atol=1e-6)
