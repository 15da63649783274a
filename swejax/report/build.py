"""Writes the static report: index.html, app.js, style.css and data/ (JS chunks).

The page opens from disk (file://) with no server and no network: every data file is a
script that hands its JSON to the app (`SWEJAX.index(...)`, `SWEJAX.chunk(...)`), because
browsers refuse fetch() of file:// URLs. data/index.js holds the table, the curves, the
tasks x stages matrix and one compact column per episode field the list filters on; an
episode's turns, patch and grading live in data/<run>/c<n>.js, CHUNK episodes per file,
loaded only when one of them is opened.
"""
from __future__ import annotations

import glob
import importlib.resources
import json
import os
import time
from typing import Any, Sequence

from swejax.report import data

CHUNK = 50  # episodes per data file
INDEX_FILE = "index.html"
_STATIC = ("index.html", "app.js", "style.css")



def _factor(values: Sequence[Any]) -> tuple[list[str], list[int]]:
  names: dict[str, int] = {}
  idx = [names.setdefault(str(v), len(names)) for v in values]
  return list(names), idx


def episode_columns(episodes: Sequence[dict]) -> dict[str, Any]:
  """What the list view filters and sorts on, one array per field (small for 10^4 rows)."""
  stages, stage_idx = _factor([e["stage"] for e in episodes])
  tasks, task_idx = _factor([e["task"] for e in episodes])
  terms, term_idx = _factor([e["termination"] for e in episodes])
  return {
      "n": len(episodes), "stages": stages, "stage": stage_idx, "tasks": tasks,
      "task": task_idx, "terminations": terms, "termination": term_idx,
      "iteration": [int(e["iteration"]) for e in episodes],
      "group": [int(e["group"]) for e in episodes],
      "resolved": [int(e["resolved"]) for e in episodes],
      "reward": [round(float(e["reward"]), 4) for e in episodes],
      "advantage": [e["advantage"] for e in episodes],
      "turns": [int(e["turns"]) for e in episodes],
      "tokens": [int(e["tokens"]) for e in episodes],
      "format_errors": [int(e["format_errors"]) for e in episodes],
  }


def run_data(workdir: str, name: str,
             episodes: Sequence[dict] | None = None) -> tuple[dict[str, Any], list[dict]]:
  """The index entry of one run (`episodes` read from the workdir unless given)."""
  data.check_workdir(workdir)
  records = data.metrics_records(workdir)
  eps = list(data.read_episodes(workdir) if episodes is None else episodes)
  table = data.eval_table(records, data.read_summary(workdir))
  return {"name": name, "table": data.with_eval_counts(table, eps),
          "records": records, "matrix": data.solved_matrix(eps),
          "episodes": episode_columns(eps)}, eps


def _js(call: str, *args: Any) -> str:
  return f"{call}({','.join(json.dumps(a, separators=(',', ':')) for a in args)});\n"


def _write(path: str, text: str) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(text)
  os.replace(tmp, path)


def _static(name: str) -> str:
  return (importlib.resources.files("swejax.report") / "static" / name).read_text("utf-8")


def write_report(workdirs: Sequence[str], out: str, *, names: Sequence[str] | None = None,
                 episodes: Sequence[Sequence[dict]] | None = None) -> str:
  """Writes the report of one run (or several, side by side) to `out`; returns the path of
  its index.html. `episodes`, when given, replaces what the workdirs' trajectories hold."""
  if not workdirs:
    raise ValueError("report: give at least one run directory")
  for workdir in workdirs:  # before anything is written
    data.check_workdir(workdir)
  names = list(names or _names(workdirs))
  runs = []
  os.makedirs(os.path.join(out, "data"), exist_ok=True)
  for r, workdir in enumerate(workdirs):
    run, eps = run_data(workdir, names[r], None if episodes is None else episodes[r])
    runs.append(run)
    folder = os.path.join(out, "data", f"r{r}")
    os.makedirs(folder, exist_ok=True)
    for c in range(0, len(eps), CHUNK):
      _write(os.path.join(folder, f"c{c // CHUNK}.js"),
             _js("SWEJAX.chunk", r, c // CHUNK, eps[c:c + CHUNK]))
    stale = len(range(0, len(eps), CHUNK))
    for path in glob.glob(os.path.join(folder, "c*.js")):
      if int(os.path.basename(path)[1:-3]) >= stale:
        os.remove(path)
  for name in _STATIC:
    _write(os.path.join(out, name), _static(name))
  index = {"runs": runs, "chunk": CHUNK, "generated": time.strftime("%Y-%m-%d %H:%M:%S")}
  _write(os.path.join(out, "data", "index.js"), _js("SWEJAX.index", index))
  return os.path.join(out, INDEX_FILE)


def _names(workdirs: Sequence[str]) -> list[str]:
  """Each run's name: its directory's name, or more of its path when two names clash."""
  base = [os.path.basename(os.path.normpath(w)) or w for w in workdirs]
  if len(set(base)) == len(base):
    return base
  return [os.path.normpath(w) for w in workdirs]


def refresh(workdir: str, out: str | None = None) -> str | None:
  """The run's own report, rewritten (after an evaluation). A failure is printed, never
  raised: a report must not end a training run."""
  try:
    return write_report([workdir], out or os.path.join(workdir, "report"))
  except Exception as e:  # pylint: disable=broad-except
    print(f"warning: the report of {workdir} was not written: {type(e).__name__}: {e}",
          flush=True)
    return None
