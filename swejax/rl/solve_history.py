"""WORKDIR/solve_history.jsonl: each training task's outcomes so far, the hand-off that
stage 2's pool filter reads (the paper drops tasks solved >= 2/3 of the time so far, and
never-solved ones, counting RFT's samples and stage 1's groups).

One JSON line per task: {"instance_id": ..., "solves": [1, 0, ...]}. A stage writes the
history it was given (config rl.pool_filter.history) merged with its own outcomes, so the
file of each stage holds every earlier stage's too.
"""
from __future__ import annotations

import json
import os

FILE = "solve_history.jsonl"


def read(path: str) -> dict[str, list[int]]:
  """The history in `path` ("" : none); ValueError naming the file and line if bad."""
  if not path:
    return {}
  if not os.path.isfile(path):
    raise ValueError(f"config rl.pool_filter.history={path!r}: no such file (a previous "
                     f"stage's WORKDIR/{FILE})")
  out: dict[str, list[int]] = {}
  with open(path) as f:
    for n, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
        solves = [int(bool(x)) for x in row["solves"]]
        out.setdefault(str(row["instance_id"]), []).extend(solves)
      except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}:{n}: expected {{\"instance_id\": ..., \"solves\": [...]}} "
                         f"({type(e).__name__}: {e})") from None
  return out


def merge(*histories: dict[str, list[int]]) -> dict[str, list[int]]:
  out: dict[str, list[int]] = {}
  for h in histories:
    for task, solves in h.items():
      out.setdefault(task, []).extend(solves)
  return out


def write(path: str, history: dict[str, list[int]]) -> None:
  """Replaces `path` at once (a crash leaves the old file or the new one)."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    for task in sorted(history):
      f.write(json.dumps({"instance_id": task, "solves": history[task]}) + "\n")
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
