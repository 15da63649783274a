"""PNG plots of a run, drawn from metrics.jsonl alone (so they survive a resume).

write_plots(workdir) writes, for the series present in the records:
  plots/solve_rate.png     solve_rate per stage; eval/pass@1 with +-eval/stderr bars, eval/pass@k
  plots/reward.png         reward_mean per stage
  plots/episode_length.png episode_len_mean per stage (actions per episode)
  plots/learner.png        learner/{loss, clip_low_frac + clip_high_frac, approx_kl,
                           grad_norm, logprob_diff_mean}, one panel each
  plots/time.png           time/* per record as stacked bars (seconds per phase)
Each stage is its own series against its `iteration`. Figures are drawn with matplotlib's
object API on the Agg canvas: no pyplot state, no display needed.
"""
from __future__ import annotations

import os
from typing import Any, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from swejax.metrics.writer import read_metrics

PLOTS_DIR = "plots"

_LEARNER_PANELS = (
    ("loss", ("learner/loss",)),
    ("clip fraction", ("learner/clip_low_frac", "learner/clip_high_frac")),
    ("approx. KL", ("learner/approx_kl",)),
    ("grad norm", ("learner/grad_norm",)),
    ("logprob mismatch", ("learner/logprob_diff_mean",)),
)


def _series(records: Sequence[dict[str, Any]], key: str) -> dict[str, tuple[list, list]]:
  """stage -> (iterations, values) of the records that have a number under `key`."""
  out: dict[str, tuple[list, list]] = {}
  for r in records:
    v = r.get(key)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
      xs, ys = out.setdefault(r["stage"], ([], []))
      xs.append(r["iteration"])
      ys.append(float(v))
  return out


def _style(ax, title: str, ylabel: str | None = None, legend: str = "small") -> None:
  ax.set_title(title, fontsize="medium")
  if ylabel:
    ax.set_ylabel(ylabel)
  ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # iterations are whole numbers
  ax.grid(alpha=0.3)
  ax.legend(fontsize=legend)


def _save(fig: Figure, path: str) -> str:
  FigureCanvasAgg(fig)
  fig.savefig(path, dpi=100)
  return path


def _line_plot(records, keys: Sequence[str], title: str, ylabel: str, path: str) -> str | None:
  fig = Figure(figsize=(7, 4), layout="constrained")
  ax = fig.add_subplot()
  drawn = False
  for key in keys:
    for stage, (xs, ys) in _series(records, key).items():
      label = stage if len(keys) == 1 else f"{stage} {key}"
      ax.plot(xs, ys, marker="o", markersize=3, label=label)
      drawn = True
  if not drawn:
    return None
  ax.set_xlabel("iteration")
  _style(ax, title, ylabel)
  return _save(fig, path)


def _solve_rate_plot(records, path: str) -> str | None:
  fig = Figure(figsize=(7, 4), layout="constrained")
  ax = fig.add_subplot()
  drawn = False
  for stage, (xs, ys) in _series(records, "solve_rate").items():
    ax.plot(xs, ys, marker="o", markersize=3, label=f"{stage} (training rollouts)")
    drawn = True
  evals: dict[str, tuple[list, list, list]] = {}
  for r in records:
    if isinstance(r.get("eval/pass@1"), (int, float)):
      xs, ys, es = evals.setdefault(r["stage"], ([], [], []))
      xs.append(r["iteration"])
      ys.append(float(r["eval/pass@1"]))
      es.append(float(r.get("eval/stderr") or 0.0))  # None (one run) draws no bar
  for stage, (xs, ys, es) in evals.items():
    ax.errorbar(xs, ys, yerr=es, fmt="s-", capsize=3, label=f"{stage} eval pass@1")
    drawn = True
  for r_stage, (xs, ys) in _series(records, "eval/pass@k").items():
    ax.plot(xs, ys, "^--", label=f"{r_stage} eval pass@k")
    drawn = True
  if not drawn:
    return None
  ax.set(xlabel="iteration", ylim=(-0.02, 1.02))
  _style(ax, "solve rate", "fraction resolved")
  return _save(fig, path)


def _learner_plot(records, path: str) -> str | None:
  panels = [(title, keys) for title, keys in _LEARNER_PANELS
            if any(_series(records, k) for k in keys)]
  if not panels:
    return None
  fig = Figure(figsize=(7, 2.2 * len(panels)), layout="constrained")
  axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
  for ax, (title, keys) in zip(axes, panels):
    for key in keys:
      for stage, (xs, ys) in _series(records, key).items():
        ax.plot(xs, ys, marker="o", markersize=3, label=f"{stage} {key.split('/')[-1]}")
    _style(ax, title, legend="x-small")
  axes[-1].set_xlabel("iteration")
  return _save(fig, path)


def _time_plot(records, path: str) -> str | None:
  rows = [r for r in records if any(k.startswith("time/") and isinstance(v, (int, float))
                                    for k, v in r.items())]
  if not rows:
    return None
  phases: list[str] = []
  for r in rows:
    phases += [k for k, v in r.items() if k.startswith("time/") and k != "time/total"
               and not k.endswith("_summed")  # concurrent work, not a part of the wall time
               and isinstance(v, (int, float)) and k not in phases]
  fig = Figure(figsize=(max(7, 0.35 * len(rows)), 4), layout="constrained")
  ax = fig.add_subplot()
  xs = list(range(len(rows)))
  bottom = [0.0] * len(rows)
  for phase in phases:
    hs = [float(r.get(phase) or 0.0) for r in rows]
    ax.bar(xs, hs, bottom=bottom, label=phase[len("time/"):])
    bottom = [b + h for b, h in zip(bottom, hs)]
  ax.set_xticks(xs, [f"{r['stage']} {r['iteration']}" for r in rows], rotation=90,
                fontsize="x-small")
  ax.set(title="time per iteration", ylabel="seconds")
  ax.legend(fontsize="small")
  return _save(fig, path)


def write_plots(workdir: str | os.PathLike[str]) -> list[str]:
  """Writes WORKDIR/plots/*.png from WORKDIR/metrics.jsonl; returns the paths written."""
  workdir = os.fspath(workdir)
  records = read_metrics(workdir)
  out_dir = os.path.join(workdir, PLOTS_DIR)
  os.makedirs(out_dir, exist_ok=True)
  at = lambda name: os.path.join(out_dir, name)  # pylint: disable=unnecessary-lambda-assignment
  written = [
      _solve_rate_plot(records, at("solve_rate.png")),
      _line_plot(records, ("reward_mean",), "reward", "mean reward (R + step penalty)",
                 at("reward.png")),
      _line_plot(records, ("episode_len_mean",), "episode length", "actions per episode",
                 at("episode_length.png")),
      _learner_plot(records, at("learner.png")),
      _time_plot(records, at("time.png")),
  ]
  return [p for p in written if p is not None]
