"""A run's workdir read for the report: metrics records, the evaluation table, episodes.

Pure functions over what `swejax train` writes:
  WORKDIR/metrics.jsonl                        one flat record per iteration or evaluation
  WORKDIR/summary.json                         the end-of-run table (when the run finished)
  WORKDIR/trajectories/<stage>_<iteration>.jsonl  one finished episode per line
"""
from __future__ import annotations

import glob
import json
import os
import re
from typing import Any, Iterable, Iterator

from swejax.metrics.writer import METRICS_FILE
from swejax.report.record import PATCH_CHARS, cap
from swejax.rl.episode import complete_lines
from swejax.rl.rewards import group_advantages

TRAJECTORIES = "trajectories"
_FILE = re.compile(r"^(?P<stage>.+)_(?P<iteration>\d+)\.jsonl$")
# Stages whose episodes trained with a group advantage (DAPO).
ADVANTAGE_STAGES = ("dapo",)
MATRIX_COLUMNS = 40  # tasks x stages: beyond this, iterations share a column


def check_workdir(workdir: str) -> str:
  """`workdir` if it holds a run (metrics or trajectories); ValueError saying what is missing."""
  if not os.path.isdir(workdir):
    raise ValueError(f"report: {workdir} is not a directory")
  if not (os.path.exists(os.path.join(workdir, METRICS_FILE))
          or os.path.isdir(os.path.join(workdir, TRAJECTORIES))):
    raise ValueError(f"report: {workdir} holds no run: neither {METRICS_FILE} nor "
                     f"{TRAJECTORIES}/ (is it the --workdir of `swejax train`?)")
  return workdir


def _jsonl(path: str) -> Iterator[dict]:
  """The complete lines of a JSONL file as dicts; a torn or bad line is skipped."""
  for line in complete_lines(path):
    try:
      row = json.loads(line)
    except json.JSONDecodeError:
      continue
    if isinstance(row, dict):
      yield row


def metrics_records(workdir: str) -> list[dict]:
  return list(_jsonl(os.path.join(workdir, METRICS_FILE)))


def eval_table(records: Iterable[dict], summary: dict | None) -> list[dict]:
  """Table 1: one row per evaluated stage (Pass@1 +- s.e., Pass@k). summary.json, when the
  run wrote it, wins; evaluations recorded in metrics.jsonl fill in the rest (in order)."""
  rows: dict[str, dict] = {}
  for r in records:
    stage = str(r.get("stage", ""))
    if stage.startswith("eval_") and r.get("eval/pass@1") is not None:
      rows[stage[5:]] = {"name": stage[5:], "pass@1": r["eval/pass@1"],
                         "stderr": r.get("eval/stderr") or 0.0, "pass@k": r.get("eval/pass@k"),
                         "k": r.get("eval/k"), "iteration": r.get("iteration", 0),
                         "tasks": None, "runs": None}
  for s in (summary or {}).get("stages", []):
    rows[s["name"]] = dict(rows.get(s["name"], {}), **s)
  return list(rows.values())


def with_eval_counts(table: list[dict], episodes: Iterable[dict]) -> list[dict]:
  """Table rows with tasks and runs per task filled in from the evaluation's episodes where
  the run has not written them yet (summary.json comes at the end of a run)."""
  counts: dict[str, dict[str, int]] = {}
  for e in episodes:
    if e["stage"].startswith("eval_"):
      per_task = counts.setdefault(e["stage"][5:], {})
      per_task[e["task"]] = per_task.get(e["task"], 0) + 1
  out = []
  for row in table:
    per_task = counts.get(row["name"])
    if row.get("tasks") is None and per_task:
      row = dict(row, tasks=len(per_task), runs=min(per_task.values()))
    out.append(row)
  return out


def read_summary(workdir: str) -> dict | None:
  path = os.path.join(workdir, "summary.json")
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def trajectory_files(workdir: str) -> list[tuple[str, int, str]]:
  """(stage, iteration, path) of every trajectory file, in the order the run made them
  (by modification time, then name)."""
  out = []
  for path in glob.glob(os.path.join(workdir, TRAJECTORIES, "*.jsonl")):
    m = _FILE.match(os.path.basename(path))
    if m:
      out.append((os.path.getmtime(path), m["stage"], int(m["iteration"]), path))
  out.sort(key=lambda x: (x[0], x[1], x[2]))
  return [(s, i, p) for _, s, i, p in out]


def episode_id(stage: str, iteration: int, task: str, group: int) -> str:
  """An episode's name in the report's links (#ep=...): the same in Python and app.js."""
  return f"{stage}_{iteration}.{task}.{group}"


def advantages(rows: list[dict]) -> list[float | None]:
  """The group advantage each DAPO episode trained with (the learner's own function over
  its group's rewards); None for stages without one or an incomplete group."""
  out: list[float | None] = [None] * len(rows)
  groups: dict[tuple[str, int, str], list[int]] = {}
  for i, r in enumerate(rows):
    if r.get("stage") in ADVANTAGE_STAGES:
      groups.setdefault((r["stage"], r.get("iteration", 0), r["task_id"]), []).append(i)
  for members in groups.values():
    adv = group_advantages([float(rows[i].get("reward", 0.0)) for i in members])
    for i, a in zip(members, adv):
      out[i] = round(float(a), 4)
  return out


def readable(row: dict, advantage: float | None) -> dict[str, Any]:
  """An episode line without its token arrays: what the viewer shows."""
  view = row.get("view") or {}
  return {
      "task": row.get("task_id", ""), "group": row.get("group", 0),
      "stage": row.get("stage", ""), "iteration": row.get("iteration", 0),
      "resolved": bool(row.get("resolved")), "reward": row.get("reward", 0.0),
      "reward_parts": row.get("reward_parts", {}), "advantage": advantage,
      "turns": row.get("turns", 0), "termination": row.get("termination", ""),
      "tokens": row.get("num_tokens", len(row.get("tokens", ()))),
      "action_tokens": row.get("num_action_tokens"),
      "format_errors": row.get("format_errors", 0), "seconds": row.get("seconds", 0.0),
      "version": row.get("version", 0), "infra_error": row.get("infra_error"),
      "patch": cap(row.get("patch", "") or "", PATCH_CHARS),
      "grade": row.get("grade", {}), "issue": view.get("issue", ""),
      "steps": view.get("turns", []),
  }


def read_episodes(workdir: str) -> list[dict]:
  """Every finished episode of a run, readable, in file order (advantages filled in)."""
  rows = []
  for stage, iteration, path in trajectory_files(workdir):
    for r in _jsonl(path):
      r.setdefault("stage", stage)
      r.setdefault("iteration", iteration)
      r.pop("loss_mask", None)
      r.pop("logprobs", None)
      if "num_tokens" not in r:
        r["num_tokens"] = len(r.get("tokens", ()))
      r.pop("tokens", None)
      rows.append(r)
  return [readable(r, a) for r, a in zip(rows, advantages(rows))]


def solved_matrix(episodes: list[dict], max_columns: int = MATRIX_COLUMNS) -> dict[str, Any]:
  """Tasks x stages: the solved fraction and episode count of each cell. A stage with more
  iterations than fit (DAPO) has consecutive iterations merged into one column."""
  per_stage: dict[str, list[int]] = {}
  for e in episodes:
    its = per_stage.setdefault(e["stage"], [])
    if e["iteration"] not in its:
      its.append(e["iteration"])
  fixed = sum(1 for its in per_stage.values() if len(its) == 1)
  room = max(1, (max_columns - fixed) // max(1, len(per_stage) - fixed))
  column_of: dict[tuple[str, int], dict] = {}
  columns: list[dict] = []
  for stage, its in per_stage.items():
    its = sorted(its)
    width = -(-len(its) // room)
    for k in range(0, len(its), width):
      lo, hi = its[k], its[min(k + width, len(its)) - 1]
      label = f"{stage}_{lo}" if lo == hi else f"{stage}_{lo}-{hi}"
      col = {"label": label, "stage": stage, "from": lo, "to": hi}
      columns.append(col)
      for it in its[k:k + width]:
        column_of[(stage, it)] = col
  cells: dict[str, dict[str, list[int]]] = {}
  for e in episodes:
    label = column_of[(e["stage"], e["iteration"])]["label"]
    cell = cells.setdefault(e["task"], {}).setdefault(label, [0, 0])
    cell[0] += int(e["resolved"])
    cell[1] += 1
  return {"columns": columns, "tasks": sorted(cells), "cells": cells}
