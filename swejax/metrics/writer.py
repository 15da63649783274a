"""metrics.jsonl and TensorBoard: one record per iteration (or evaluation), and its summary."""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, TextIO

import numpy as np

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"


def _plain(value: Any, key: str) -> Any:
  """A JSON value for `value`: scalars of numpy/JAX become numbers, NaN/inf become None."""
  if value is None or isinstance(value, (bool, str)):
    return value
  if isinstance(value, (int, float)):
    if isinstance(value, int):
      return int(value)
    return float(value) if math.isfinite(value) else None
  if isinstance(value, (list, tuple)):
    return [_plain(v, f"{key}[{i}]") for i, v in enumerate(value)]
  if hasattr(value, "dtype") and hasattr(value, "shape"):  # numpy / JAX arrays and scalars
    array = np.asarray(value)
    if array.size != 1:
      raise ValueError(f"metrics: {key!r} is an array of shape {array.shape}; log a scalar")
    return _plain(array.reshape(()).item(), key)
  raise ValueError(f"metrics: {key!r} has type {type(value).__name__}; log numbers or strings")


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """Nested dicts become "a/b" keys: {"time": {"learner": 3.0}} -> {"time/learner": 3.0}."""
  out: dict[str, Any] = {}
  for k, v in record.items():
    if not isinstance(k, str):
      raise ValueError(f"metrics: key {k!r} under {prefix or 'the record'!r} is not a string")
    key = prefix + k
    if isinstance(v, Mapping):
      out.update(flatten(v, key + "/"))
    else:
      out[key] = _plain(v, key)
  return out


def check_record(record: Mapping[str, Any]) -> dict[str, Any]:
  """The flat, JSON-clean record; raises if `iteration` or `stage` is missing or wrong."""
  flat = flatten(record)
  it = flat.get("iteration")
  if isinstance(it, bool) or not isinstance(it, int) or it < 0:
    raise ValueError(f"metrics: record needs 'iteration' as an int >= 0, got {it!r}")
  stage = flat.get("stage")
  if not isinstance(stage, str) or not stage:
    raise ValueError(f"metrics: record needs 'stage' as a non-empty string, got {stage!r}")
  return flat


class MetricsWriter:
  """Appends records to WORKDIR/metrics.jsonl and WORKDIR/tensorboard/ (process 0 only).

  Each record is flattened ("time/learner" keys), flushed to disk at once, and every numeric
  value is also a TensorBoard scalar "<stage>/<key>" at step `iteration`. With `console`, the
  one-line summary of each record is printed there.
  """

  def __init__(self, workdir: str | os.PathLike[str], *, console: TextIO | None = None):
    workdir = os.fspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, METRICS_FILE)
    self._file = open(self.path, "a", encoding="utf-8")  # pylint: disable=consider-using-with
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._tb = SummaryWriter(logdir=os.path.join(workdir, TENSORBOARD_DIR))
    self._console = console

  def write(self, record: Mapping[str, Any]) -> dict[str, Any]:
    """Writes one record (needs `iteration` and `stage`); returns it as stored."""
    flat = check_record(record)
    self._file.write(json.dumps(flat, allow_nan=False) + "\n")
    self._file.flush()
    os.fsync(self._file.fileno())
    stage, step = flat["stage"], flat["iteration"]
    for key, value in flat.items():
      if key != "iteration" and isinstance(value, (int, float)):
        self._tb.add_scalar(f"{stage}/{key}", float(value), global_step=step)
    self._tb.flush()
    if self._console is not None:
      self._console.write(format_summary(flat) + "\n")
      self._console.flush()
    return flat

  def close(self) -> None:
    self._file.close()
    self._tb.close()

  def __enter__(self) -> MetricsWriter:
    return self

  def __exit__(self, *exc: object) -> None:
    self.close()


def read_metrics(workdir: str | os.PathLike[str]) -> list[dict[str, Any]]:
  """The records of WORKDIR/metrics.jsonl, one per (stage, iteration), in first-seen order.

  Records with the same (stage, iteration) are merged, later keys winning: an iteration
  written again after a resume replaces the first attempt, and an evaluation record joins
  its iteration's record. A torn last line (a crash mid-write) is skipped.
  """
  path = os.path.join(os.fspath(workdir), METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    lines = f.read().splitlines()
  merged: dict[tuple[str, int], dict[str, Any]] = {}
  for row, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      record = check_record(json.loads(line))
    except (json.JSONDecodeError, ValueError) as e:
      if row == len(lines):
        break
      raise ValueError(f"{path}, row {row}: not a metrics record: {e}") from None
    key = (record["stage"], record["iteration"])
    merged.setdefault(key, {}).update(record)
  return list(merged.values())


def _num(value: Any) -> str:
  return f"{value:.4g}" if isinstance(value, float) else str(value)


# (label, key) pairs shown by format_summary, in order, when present.
_SUMMARY_FIELDS = (
    ("solve", "solve_rate"), ("reward", "reward_mean"), ("len", "episode_len_mean"),
    ("dropped", "dropped_groups"), ("loss", "learner/loss"), ("kl", "learner/approx_kl"),
    ("clip_lo", "learner/clip_low_frac"), ("clip_hi", "learner/clip_high_frac"),
    ("gnorm", "learner/grad_norm"), ("lp_diff", "learner/logprob_diff_mean"),
)


def format_summary(record: Mapping[str, Any]) -> str:
  """One console line: stage and iteration, rollout and learner figures, eval, time split."""
  flat = flatten(record)
  parts = [f"[{flat.get('stage', '?')} {flat.get('iteration', '?')}]"]
  parts += [f"{label} {_num(flat[key])}" for label, key in _SUMMARY_FIELDS
            if flat.get(key) is not None]
  if flat.get("eval/pass@1") is not None:
    text = f"pass@1 {_num(flat['eval/pass@1'])}"
    if flat.get("eval/stderr") is not None:
      text += f"+-{_num(flat['eval/stderr'])}"
    if flat.get("eval/pass@k") is not None:
      text += f" pass@{flat.get('eval/k', 'k')} {_num(flat['eval/pass@k'])}"
    parts.append(text)
  times = {k[len("time/"):]: v for k, v in flat.items()
           if k.startswith("time/") and isinstance(v, (int, float))}
  if times:  # wall time and its parts; "*_summed" figures add up concurrent work
    summed = {k[:-len("_summed")]: times.pop(k) for k in list(times) if k.endswith("_summed")}
    total = times.pop("total", sum(times.values()))
    split = " ".join(f"{k} {v:.1f}" for k, v in times.items())
    parts.append(f"{total:.1f}s ({split})" if split else f"{total:.1f}s")
    parts += [f"{k} {v:.1f}s summed over episodes" for k, v in summed.items()]
  return " ".join(parts[:1] + [" | ".join(parts[1:])]).rstrip()
