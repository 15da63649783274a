"""The run's sampler, as config `sampler` chooses it: the in-process JAX sampler, or the
vLLM servers at `sampler.urls` (launch/vllm_fleet.sh), given the run's weights at once."""
from __future__ import annotations

import os

SAMPLER_KINDS = ("jax", "vllm")


def sampler_urls(sampler_config) -> list[str]:
  """The vLLM servers of config `sampler` (empty for the in-process JAX sampler); a
  ValueError naming the flag when the choice is not one."""
  kind = sampler_config.get("kind", "jax")
  urls = [u.strip() for u in str(sampler_config.get("urls", "") or "").split(",") if u.strip()]
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


def make_sampler(config, model_cfg, params, *, version: int, workdir: str,
                 stop_token_id: int):
  """The sampler serving `params` as policy `version`.

  vLLM servers are sent `params` before this returns, whatever checkpoint they were
  started from (its architecture must be this one), through `sampler.staging_dir`
  (default WORKDIR/weights), which every server reads at the same path."""
  s, agent = config.sampler, config.agent
  urls = sampler_urls(s)
  if not urls:
    from swejax.sampling import JaxSampler  # pylint: disable=import-outside-toplevel
    return JaxSampler(model_cfg, params, max_slots=s.max_slots,
                      max_len=agent.max_context_tokens, version=version)
  from swejax.sampling import VLLMFleet  # pylint: disable=import-outside-toplevel
  fleet = VLLMFleet(urls, cfg=model_cfg, eos_token_ids=(stop_token_id,),
                    staging_dir=s.get("staging_dir", "") or os.path.join(workdir, "weights"),
                    initial_version=version,
                    startup_timeout=float(s.get("startup_timeout", 600.0)),
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
