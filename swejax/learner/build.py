"""From an experiment ConfigDict to the learner's frozen configs: the one place where
the config's `model` and `learner` sections become a ModelConfig and a StepConfig.

Keys read (swejax.schema lists them): model (preset, overrides, rules); learner
(logprob_chunk, cast_params; eps_low and eps_high for the DAPO loss).
"""
from __future__ import annotations

from typing import Any, Mapping

from swejax import model as model_lib
from swejax.learner.train_step import StepConfig

def _plain(x: Any) -> Any:
  return x.to_dict() if hasattr(x, "to_dict") else x


def model_config(section: Mapping[str, Any]) -> model_lib.ModelConfig:
  """`model.preset` + `model.overrides` (ModelConfig fields) + `model.rules` (changes to
  the logical -> mesh axes table, e.g. {"act_embed": "tensor"})."""
  section = _plain(section)
  if "preset" not in section:
    raise ValueError("config: model.preset is required (e.g. 'qwen2.5-72b')")
  overrides = dict(section.get("overrides") or {})
  fields = set(model_lib.ModelConfig.__dataclass_fields__)
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise ValueError(f"config: model.overrides has unknown field(s) {unknown}")
  rules_changes = dict(section.get("rules") or {})
  if rules_changes:
    table = dict(model_lib.DEFAULT_RULES)
    unknown = sorted(set(rules_changes) - set(table))
    if unknown:
      raise ValueError(f"config: model.rules has unknown logical axis name(s) {unknown}; "
                       f"known: {sorted(table)}")
    table.update({k: tuple(v) if isinstance(v, list) else v for k, v in rules_changes.items()})
    overrides["rules"] = tuple(table.items())
  return model_lib.get_config(section["preset"], **overrides)


def step_config(config, loss: str) -> StepConfig:
  """The static train-step settings of a stage whose loss is `loss` ("sft" or "dapo")."""
  l = config.learner
  clip = dict(eps_low=l.eps_low, eps_high=l.eps_high) if loss == "dapo" else {}
  return StepConfig(model=model_config(config.model), loss=loss,
                    logprob_chunk=l.logprob_chunk, cast_params=l.cast_params, **clip)


def stage_loss(stage: str) -> str:
  """The loss of a training stage (its kind: warm_start, rft, dapo)."""
  return "dapo" if stage.split(":")[0] == "dapo" else "sft"


def stage_optim(config, stage: str) -> dict[str, Any]:
  """The optimizer section of a training stage: warm_start.optim, rft.optim, rl.optim."""
  kind = stage.split(":")[0]
  section = {"warm_start": "warm_start", "rft": "rft", "dapo": "rl"}[kind]
  return config[section].optim.to_dict()
