"""From an experiment ConfigDict to the learner's frozen configs.

Sections read: model (preset, overrides, rules), learner (loss, eps_low, eps_high, kl_coef,
tis_cap, microbatch_rows, logprob_chunk, cast_params).
"""
from __future__ import annotations

from typing import Any, Mapping

from swejax import model as model_lib
from swejax.learner.train_step import StepConfig

_LEARNER_FIELDS = ("loss", "eps_low", "eps_high", "kl_coef", "tis_cap", "logprob_chunk",
                   "cast_params")
_LEARNER_LOOP_FIELDS = ("microbatch_rows",)


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


def step_config(config: Mapping[str, Any]) -> StepConfig:
  """The static train-step settings from the `model` and `learner` sections."""
  learner = dict(_plain(config["learner"]))
  unknown = sorted(set(learner) - set(_LEARNER_FIELDS) - set(_LEARNER_LOOP_FIELDS))
  if unknown:
    raise ValueError(f"config: learner has unknown field(s) {unknown}")
  kwargs = {k: learner[k] for k in _LEARNER_FIELDS if k in learner}
  return StepConfig(model=model_config(config["model"]), **kwargs)
