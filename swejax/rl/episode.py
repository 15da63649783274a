"""The Episode seam: one trajectory, token-in-token-out, written to disk when it finishes."""
from __future__ import annotations

import dataclasses
import json
import os
import threading
from typing import Any, Iterator

import numpy as np

TERMINATIONS = ("submit", "max_turns", "context", "timeout", "infra_error")


@dataclasses.dataclass
class Episode:
  task_id: str
  group: int  # index of this episode in its task's group of G
  tokens: list[int]  # the whole conversation
  loss_mask: list[int]  # 1 only on tokens the policy sampled that count
  logprobs: list[float]  # the sampler's log-prob on sampled tokens, 0 elsewhere
  turns: int  # number of actions |tau|
  termination: str
  patch: str = ""
  resolved: bool = False
  reward: float = 0.0  # R + R_len
  reward_parts: dict[str, float] = dataclasses.field(default_factory=dict)
  version: int = 0  # the policy version that produced every sampled token
  format_errors: int = 0
  seconds: float = 0.0
  infra_error: str | None = None
  stage: str = ""
  iteration: int = 0
  grade: dict[str, Any] = dataclasses.field(default_factory=dict)
  view: dict[str, Any] = dataclasses.field(default_factory=dict)  # swejax.report.record

  def __post_init__(self):
    if self.termination not in TERMINATIONS:
      raise ValueError(f"episode {self.task_id}/{self.group}: unknown termination "
                       f"{self.termination!r}; known: {TERMINATIONS}")
    if not len(self.tokens) == len(self.loss_mask) == len(self.logprobs):
      raise ValueError(f"episode {self.task_id}/{self.group}: tokens, loss_mask and logprobs "
                       f"differ in length ({len(self.tokens)}, {len(self.loss_mask)}, "
                       f"{len(self.logprobs)})")

  @property
  def num_tokens(self) -> int:
    return len(self.tokens)

  @property
  def num_action_tokens(self) -> int:
    return int(np.sum(self.loss_mask))

  def to_json(self) -> str:
    d = dataclasses.asdict(self)
    d["num_tokens"] = self.num_tokens
    d["num_action_tokens"] = self.num_action_tokens
    return json.dumps(d, separators=(",", ":"))

  @classmethod
  def from_json(cls, line: str) -> "Episode":
    d = json.loads(line)
    d.pop("num_tokens", None)
    d.pop("num_action_tokens", None)
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in fields})


class EpisodeLog:
  """Appends finished episodes to a JSONL file at once (flushed and fsynced): a crash loses
  no finished episode. Thread-safe."""

  def __init__(self, path: str):
    self.path = path
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    self._lock = threading.Lock()

  def append(self, episode: Episode) -> None:
    line = episode.to_json() + "\n"
    with self._lock, open(self.path, "a", encoding="utf-8") as f:
      f.write(line)
      f.flush()
      os.fsync(f.fileno())


def complete_lines(path: str) -> Iterator[str]:
  """The complete lines of a JSONL log; a torn last line (a crash mid-write) is left out."""
  if not os.path.exists(path):
    return
  with open(path, encoding="utf-8") as f:
    for line in f:
      if not line.endswith("\n"):
        break  # torn write
      yield line


def read_episodes(path: str) -> Iterator[Episode]:
  """Finished episodes of a log; a torn or unreadable line is skipped."""
  for line in complete_lines(path):
    try:
      yield Episode.from_json(line)
    except (json.JSONDecodeError, TypeError, ValueError):
      continue
