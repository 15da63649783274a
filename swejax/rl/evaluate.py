"""`swejax eval`: Pass@1 +- s.e. and Pass@k of a workdir's latest checkpoint on the
held-out tasks (the config's eval section), without training."""
from __future__ import annotations

import json
import os

from swejax.config import UsageError, parse_flags

_FLAGS = {"workdir": (None, "the run's workdir (its latest checkpoint is evaluated)"),
          "name": ("eval", "the name the evaluation is recorded under")}


def main(argv: list[str]) -> int:
  config, flags = parse_flags(argv, "swejax eval", _FLAGS)
  workdir = flags["workdir"] or os.path.join("workdirs", config.name)
  from swejax.rl.data import TaskSets  # pylint: disable=import-outside-toplevel
  from swejax.rl.loop import Run  # pylint: disable=import-outside-toplevel
  try:
    data = TaskSets(config, workdir)
  except (ValueError, FileNotFoundError) as e:
    raise UsageError(str(e)) from None
  run = Run(config, workdir, data)
  if not run.restore():
    print(f"note: no checkpoint in {workdir}; evaluating freshly initialized parameters")
  summary = run.evaluate(flags["name"])
  run.ckpt.close()
  print(json.dumps({k: summary[k] for k in ("pass@1", "stderr", "pass@k", "k", "tasks", "runs")}))
  return 0
