"""The Sampler seam: token ids in, token ids and their log-probabilities out."""
from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Sequence, runtime_checkable


class SamplerError(RuntimeError):
  """The sampler infrastructure failed (server down, engine crashed): not the agent's fault."""


class TruncatedSamplingError(ValueError):
  """A truncating setting was asked for (or found as a server default) in training mode."""


@dataclasses.dataclass(frozen=True)
class SamplingParams:
  """Training mode (the default) is exactly the model's distribution: temperature 1 and
  nothing that truncates or reshapes it. Evaluation may set the rest, explicitly."""
  temperature: float = 1.0  # 0 means greedy
  top_k: int | None = None
  top_p: float | None = None
  min_p: float | None = None
  repetition_penalty: float | None = None
  mode: str = "train"  # "train" | "eval"

  def __post_init__(self):
    if self.mode not in ("train", "eval"):
      raise ValueError(f"sampling mode must be 'train' or 'eval', got {self.mode!r}")
    if self.mode == "train":
      bad = {k: v for k, v in (("temperature", self.temperature), ("top_k", self.top_k),
                               ("top_p", self.top_p), ("min_p", self.min_p),
                               ("repetition_penalty", self.repetition_penalty))
             if (k == "temperature" and v != 1.0) or (k != "temperature" and v is not None)}
      if bad:
        raise TruncatedSamplingError(
            f"training-mode sampling must be the model's own distribution (temperature 1, no "
            f"top_k/top_p/min_p/repetition_penalty); got {bad}. Importance ratios against a "
            f"truncated distribution are biased. Use mode='eval' for evaluation.")


@dataclasses.dataclass(frozen=True)
class Request:
  prompt: Sequence[int]  # the whole episode so far, token ids
  max_new_tokens: int
  params: SamplingParams = SamplingParams()
  seed: int = 0
  stop_token_ids: tuple[int, ...] = ()
  session: str | None = None  # episode id: sticky routing and prefix reuse across turns


@dataclasses.dataclass(frozen=True)
class Result:
  tokens: tuple[int, ...]  # sampled ids (the stop token included when one ended it)
  logprobs: tuple[float, ...]  # log-prob of each sampled id under the distribution sampled from
  finish_reason: str  # "stop" | "length"
  version: int  # the policy version that produced every token
  info: dict[str, Any] = dataclasses.field(default_factory=dict)


@runtime_checkable
class Sampler(Protocol):
  def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, *,
               temperature: float = 1.0, seed: int = 0,
               stop_token_ids: Sequence[int] = ()) -> list[Result]: ...

  def submit(self, request: Request) -> "Any":
    """Returns a concurrent.futures.Future[Result]; safe to call from many threads."""

  def update_weights(self, params: Any, version: int) -> None: ...

  @property
  def version(self) -> int: ...

  def close(self) -> None: ...
