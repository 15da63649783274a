"""The end of a run: summary.json, the Table-1-style table, plots, the exported model."""
from __future__ import annotations

import json
import os

from swejax.eval.summary import difference_stderr
from swejax.metrics import write_plots
from swejax.model import save_hf


def _ordered_claims(stages: list[dict]) -> list[dict]:
  """For consecutive evaluations (base -> rft -> dapo): is the gain > 2 s.e. of the
  difference?"""
  out = []
  for a, b in zip(stages, stages[1:]):
    gap = b["pass@1"] - a["pass@1"]
    se = difference_stderr(a, b)
    out.append({"better": b["name"], "than": a["name"], "gap": gap, "stderr_of_difference": se,
                "significant": bool(gap > 2 * se)})
  return out


def summary_of(results: dict) -> dict:
  stages = [{"name": name, "pass@1": r["pass@1"], "stderr": r["stderr"], "pass@k": r["pass@k"],
             "k": r["k"], "tasks": r.get("tasks"), "runs": r.get("runs")}
            for name, r in results.items()]
  claims = _ordered_claims(stages)
  return {"stages": stages, "comparisons": claims,
          "learned": bool(claims) and all(c["significant"] for c in claims)}


def table(summary: dict) -> str:
  rows = ["| stage | Pass@1 | Pass@k |", "|---|---|---|"]
  for s in summary["stages"]:
    rows.append(f"| {s['name']} | {100 * s['pass@1']:.1f} +- {100 * s['stderr']:.1f} | "
                f"{100 * s['pass@k']:.1f} (k={s['k']}) |")
  for c in summary["comparisons"]:
    mark = "yes" if c["significant"] else "no"
    rows.append(f"{c['better']} - {c['than']}: {100 * c['gap']:+.1f} points "
                f"(2 s.e. = {200 * c['stderr_of_difference']:.1f}): significant: {mark}")
  return "\n".join(rows)


def finish(workdir: str, results: dict, params, model_cfg, tokenizer) -> dict:
  """summary.json, the plots, and the final weights in Hugging Face form (WORKDIR/hf)
  with the run's own tokenizer, so the export serves as it trained."""
  summary = summary_of(results)
  with open(os.path.join(workdir, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
  write_plots(workdir)
  _plot_summary(summary, os.path.join(workdir, "plots", "pass_at_1.png"))
  save_hf(params, model_cfg, os.path.join(workdir, "hf"), tokenizer_dir=str(tokenizer.directory))
  return summary


def _plot_summary(summary: dict, path: str) -> None:
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  os.makedirs(os.path.dirname(path), exist_ok=True)
  names = [s["name"] for s in summary["stages"]]
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.bar(names, [100 * s["pass@1"] for s in summary["stages"]],
         yerr=[200 * s["stderr"] for s in summary["stages"]], capsize=4, color="#4c72b0")
  ax.set_ylabel("Pass@1 (%), error bars 2 s.e.")
  ax.set_title("held-out synthetic tasks")
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
