"""The one list of the config keys a run reads, by stage; checked before any work starts.

Every key a stage reads is in the config file, with its value: the code holds no second
set of defaults. A key that none of the run's stages reads is refused too: it is a typo,
or a setting that would silently change nothing (e.g. `rl.max_turns` where the turns
limit is `agent.max_turns`). A config carries the sections of its own stages only.

Keys end at a leaf, except the MAPS below, whose entries their owner checks
(model.overrides: ModelConfig fields; model.rules: logical axis names; eval.runs_by_name:
evaluation names).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import ml_collections

TRAINING_STAGES = ("warm_start", "rft", "dapo")
STAGE_KINDS = TRAINING_STAGES + ("eval",)

OPTIM = ("learning_rate", "b1", "b2", "eps", "weight_decay", "grad_clip", "schedule",
         "warmup_steps", "total_steps")
MAPS = ("model.overrides", "model.rules", "eval.runs_by_name")


def _keys(section: str, names: Iterable[str]) -> tuple[str, ...]:
  return tuple(f"{section}.{n}" for n in names)


# Read by every run, whatever its stages.
RUN = (("name", "seed", "stages")
       + _keys("model", ("preset", "init", "tokenizer", "overrides", "rules"))
       + _keys("mesh", ("data", "fsdp", "tensor", "context", "distributed"))
       + _keys("tasks", ("path", "eval_path", "eval_n", "split_seed", "hints", "image",
                         "test_cmd", "image_namespace", "image_template"))
       + _keys("sandbox", ("backend", "hosts", "per_host", "limits.memory", "limits.pids",
                           "limits.cpus"))
       + _keys("agent", ("system_prompt", "max_turns", "max_context_tokens",
                         "max_turn_tokens", "min_turn_tokens", "window", "max_output_chars",
                         "command_timeout", "episode_timeout_s", "length_threshold",
                         "infra_retries", "concurrency", "grade_timeout"))
       + _keys("sampler", ("kind", "urls", "max_slots", "staging_dir", "startup_timeout"))
       + ("checkpoint.keep",))

# Read by every training stage: the learner's step and how its batches are packed.
_TRAINING = (_keys("learner", ("logprob_chunk", "cast_params"))
             + _keys("data", ("seq_len", "microbatch_rows")))

BY_STAGE: dict[str, tuple[str, ...]] = {
    "warm_start": _TRAINING + ("tasks.warm_start_n",) + _keys("warm_start", (
        "demos_per_task", "epochs", "mistake_rate", "grade", "copy_examples",
        "copy_per_step", "copy_shape", "trajectories_per_step")) + _keys(
            "warm_start.optim", OPTIM),
    "rft": _TRAINING + ("tasks.rft_n",) + _keys("rft", (
        "samples_per_task", "epochs", "trajectories_per_step")) + _keys("rft.optim", OPTIM),
    "dapo": _TRAINING + _keys("learner", ("eps_low", "eps_high")) + _keys("rl", (
        "iterations", "problems_per_iteration", "group_size", "trajectories_per_step",
        "advantage_eps", "eval_every", "pool_filter.enabled", "pool_filter.history"))
            + _keys("rl.optim", OPTIM)
            + _keys("eval", ("runs", "k", "runs_by_name", "temperature")),
    "eval": _keys("eval", ("runs", "k", "runs_by_name", "temperature")),
}


class ConfigError(ValueError):
  """A config that does not match the schema; the message names every bad key."""


def stage_list(config) -> list[str]:
  """`stages`, e.g. "eval:base,rft,eval:rft,dapo", as a list; each kind checked."""
  stages = [s.strip() for s in str(config.stages).split(",") if s.strip()]
  if not stages:
    raise ConfigError("config stages: empty; e.g. 'rft,eval:rft' or 'dapo'")
  for s in stages:
    if s.split(":")[0] not in STAGE_KINDS:
      raise ConfigError(f"config stages: unknown stage {s!r} (warm_start, rft, dapo, "
                        "eval:NAME)")
  return stages


def read_keys(stages: Iterable[str]) -> set[str]:
  """Every key that a run of these stages reads."""
  out = set(RUN)
  for s in stages:
    out.update(BY_STAGE[s.split(":")[0]])
  return out


def leaves(config: Any, prefix: str = "") -> list[str]:
  """The dotted keys of a config, ending at leaves or at the MAPS."""
  out = []
  items = config.items() if isinstance(config, (ml_collections.ConfigDict, Mapping)) else ()
  for k, v in items:
    key = f"{prefix}{k}"
    if isinstance(v, (ml_collections.ConfigDict, Mapping)) and key not in MAPS:
      out.extend(leaves(v, key + "."))
    else:
      out.append(key)
  return out


def problems(config, *, strict: bool = True) -> list[str]:
  """What is wrong with `config`'s keys, one line each (empty: it matches the schema).

  Missing keys and keys that no stage reads are always wrong. Keys that only stages not
  in this run read are wrong with `strict` (a config file carries its own stages'
  sections only); without it they are left to `only_read` (a command line that changes
  `stages` leaves the other stages' sections behind)."""
  try:
    stages = stage_list(config)
  except (ConfigError, AttributeError) as e:
    return [str(e) if isinstance(e, ConfigError) else "config: no key `stages`"]
  want = read_keys(stages)
  have = set(leaves(config))
  out = []
  for key in sorted(want - have):
    out.append(f"config: missing key {key} (read by the stages {','.join(stages)})")
  for key in sorted(have - want):
    readers = [s for s, keys in BY_STAGE.items() if key in keys]
    if readers and not strict:
      continue
    why = (f"read only by stage(s) {', '.join(readers)}, not in this run's stages"
           if readers else "no stage reads it")
    out.append(f"config: unread key {key} ({why}); remove it")
  return out


def check(config) -> list[str]:
  """The stages of `config`, its other stages' keys dropped (see only_read); ConfigError
  listing every missing key and every key that no stage reads."""
  bad = problems(config, strict=False)
  if bad:
    raise ConfigError("\n".join(bad))
  with config.unlocked():
    only_read(config)
  return stage_list(config)


def only_read(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` without the keys its stages do not read (nor the sections left empty).

  For config files that describe several variants in one place: each variant carries
  only its own stages' sections, so its keys pass `check`."""
  want = read_keys(stage_list(config))
  for key in leaves(config):
    if key not in want:
      *path, last = key.split(".")
      node = config
      for p in path:
        node = node[p]
      del node[last]
  _drop_empty(config, "")
  return config


def _drop_empty(node, prefix: str) -> None:
  for k in list(node.keys()):
    v, key = node[k], f"{prefix}{k}"
    if isinstance(v, ml_collections.ConfigDict) and key not in MAPS:
      _drop_empty(v, key + ".")
      if not v.keys():
        del node[k]
