"""The run's sampler, as the config's `sampler` section chooses it: the in-process JAX
sampler, or the vLLM servers at `sampler.urls` (launch/vllm_fleet.sh), given the run's
weights at once."""
from __future__ import annotations

import os

from swejax.sampling.base import SamplingParams
from swejax.sampling.jax_sampler import JaxSampler
from swejax.sampling.vllm_fleet import VLLMFleet

SAMPLER_KINDS = ("jax", "vllm")


def sampler_urls(sampler_config) -> list[str]:
  """The vLLM servers of config `sampler` (empty for the in-process JAX sampler); a
  ValueError naming the key when the choice is not one."""
  kind = sampler_config.kind
  urls = [u.strip() for u in str(sampler_config.urls or "").split(",") if u.strip()]
  if kind not in SAMPLER_KINDS:
    raise ValueError(f"config sampler.kind={kind!r}: expected one of {', '.join(SAMPLER_KINDS)}")
  if kind == "vllm" and not urls:
    raise ValueError("config sampler.kind='vllm' needs sampler.urls: the servers' base URLs, "
                     "comma-separated (launch/vllm_fleet.sh prints them)")
  if kind == "jax" and urls:
    raise ValueError(f"config sampler.urls={sampler_config.urls!r} is set but "
                     "sampler.kind='jax' (the in-process sampler): set sampler.kind='vllm' to "
                     "use those servers")
  bad = [u for u in urls if not u.startswith(("http://", "https://"))]
  if bad:
    raise ValueError(f"config sampler.urls: {bad[0]!r} is not an http(s):// URL")
  return urls


def eval_sampling(eval_config) -> SamplingParams:
  """Evaluation's sampling (config eval.temperature): at 1 the training distribution."""
  t = float(eval_config.temperature)
  return SamplingParams(temperature=t, mode="train" if t == 1.0 else "eval")


def probe_fleet(config) -> tuple[dict, list[str]]:
  """(what the vLLM servers of config `sampler` serve, problems): that they answer, their
  context length against agent.max_context_tokens, and sampling defaults that would
  truncate training's distribution. No weights are sent."""
  urls = sampler_urls(config.sampler)
  try:
    fleet = VLLMFleet(urls, training=False,
                      startup_timeout=min(float(config.sampler.startup_timeout), 30.0))
  except Exception as e:  # pylint: disable=broad-except
    return {"urls": urls}, [f"config sampler.urls: the servers do not answer: "
                            f"{type(e).__name__}: {e}"]
  try:
    info = {"urls": urls, "model": fleet.model, "max_model_len": fleet.max_model_len}
    problems = [f"sampler: {p}" for p in fleet.sampling_problems]
    if fleet.max_model_len < config.agent.max_context_tokens:
      problems.append(f"config sampler.urls: the servers' max_model_len is "
                      f"{fleet.max_model_len}, below agent.max_context_tokens="
                      f"{config.agent.max_context_tokens}")
    return info, problems
  finally:
    fleet.close()


def make_sampler(config, model_cfg, params, *, version: int, workdir: str,
                 stop_token_id: int):
  """The sampler serving `params` as policy `version`.

  vLLM servers are sent `params` before this returns, whatever checkpoint they were
  started from (its architecture must be this one), through `sampler.staging_dir`
  (empty: WORKDIR/weights), which every server reads at the same path."""
  s, agent = config.sampler, config.agent
  urls = sampler_urls(s)
  if not urls:
    return JaxSampler(model_cfg, params, max_slots=s.max_slots,
                      max_len=agent.max_context_tokens, version=version)
  fleet = VLLMFleet(urls, cfg=model_cfg, eos_token_ids=(stop_token_id,),
                    staging_dir=s.staging_dir or os.path.join(workdir, "weights"),
                    initial_version=version, startup_timeout=float(s.startup_timeout),
                    max_in_flight=max(8, 2 * agent.concurrency))
  try:
    if fleet.max_model_len < agent.max_context_tokens:
      raise ValueError(f"config sampler.urls: the servers' max_model_len is "
                       f"{fleet.max_model_len}, below agent.max_context_tokens="
                       f"{agent.max_context_tokens} (start them with --max-model-len "
                       f"{agent.max_context_tokens} or more)")
    fleet.update_weights(params, version)
  except BaseException:
    fleet.close()
    raise
  return fleet
