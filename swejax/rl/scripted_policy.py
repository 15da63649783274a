"""The scripted agent as a Policy: demonstrations for the demo's warm start."""
from __future__ import annotations

import threading
import zlib
from typing import Any, Callable, Sequence

from swejax.agent.scripted import actions_for_task
from swejax.sampling.base import Result
from swejax.tokenizer import Tokenizer


class ScriptedPolicy:
  """Plays a scripted plan per episode (session), token ids = the tokenizer's encoding."""

  def __init__(self, tok: Tokenizer, tasks_by_id: dict[str, Any], *, mistake_rate: float,
               seed: int, plan: Callable[..., Sequence[Any]] = actions_for_task, **plan_kw):
    self._tok, self._tasks, self._rate, self._seed = tok, tasks_by_id, mistake_rate, seed
    self._plan, self._plan_kw = plan, plan_kw
    self._plans: dict[str, list[str]] = {}
    self._lock = threading.Lock()

  def act(self, prompt, *, session: str, seed: int, max_new_tokens: int) -> Result:
    with self._lock:
      if session not in self._plans:
        task_id, group = session.split("/", 2)[2].rsplit("/", 1)
        group = int(group)
        plan_seed = zlib.crc32(f"{self._seed}/{task_id}/{group}".encode())
        actions = self._plan(self._tasks[task_id], mistake_rate=self._rate, seed=plan_seed,
                             **self._plan_kw)
        self._plans[session] = [a.text for a in actions]
      plan = self._plans[session]
      text = plan.pop(0) if plan else "Done.\n```command\nsubmit\n```"
    ids = self._tok.encode(text)[: max_new_tokens - 1] + [self._tok.im_end_id]
    return Result(tokens=tuple(ids), logprobs=(0.0,) * len(ids), finish_reason="stop", version=0)
