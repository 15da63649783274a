"""Benchmark: time to an interactive report for a run of many episodes, against the naive
report (one page that inlines every episode), in headless Chromium.

    python -m swejax.bench.report [--episodes 20000] [--out DIR]

A synthetic run (trajectory lines as `swejax train` writes them, a metrics.jsonl) is
written, its report built, and both pages opened from disk. "Interactive" is the time
from navigation until the page's episode list is drawn (the marker the app sets when
ready) plus the time a filter click takes to redraw it. The last stdout line is one JSON
object with the times and `ratio_vs_inline` (naive time / swejax time; higher is better).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time

from swejax.report import browser, build, data

TARGET_S = 3.0
_WORDS = ("open", "edit", "search_file", "pytest", "the", "function", "returns", "value",
          "line", "fix", "issue", "test", "assert", "import", "self", "None", "list", "dict")


def _text(rng: random.Random, chars: int) -> str:
  out, n = [], 0
  while n < chars:
    w = rng.choice(_WORDS)
    out.append(w)
    n += len(w) + 1
  return " ".join(out)


def synthetic_episode(rng: random.Random, stage: str, iteration: int, task: str,
                      group: int) -> dict:
  """An episode line as the rollouts write it (token arrays left out: the report drops them)."""
  turns = rng.randint(2, 6)
  resolved = rng.random() < 0.3
  steps = []
  for t in range(turns):
    fmt_error = rng.random() < 0.08
    steps.append({
        "action": f"I will look at the code.\n```command\n{_text(rng, 200)}\n```",
        "observation": _text(rng, rng.randint(100, 600)), "format_error": fmt_error,
        "command": None if fmt_error else "open src/mod.py", "timed_out": False,
        "exit_code": None if fmt_error else rng.choice((0, 0, 0, 1)),
        "action_tokens": rng.randint(40, 120), "observation_tokens": rng.randint(30, 200),
        "observation_chars": 400,
        "logprobs": {"n": 80, "mean": -0.4, "min": -6.2, "low": 3, "ppl": 1.5},
        "seconds": {"sample": 0.8, "env": 0.1}})
  patch = ("diff --git a/src/mod.py b/src/mod.py\n--- a/src/mod.py\n+++ b/src/mod.py\n"
           "@@ -1,3 +1,3 @@\n-  return a - b\n+  return a + b\n") if rng.random() < 0.7 else ""
  failed = [] if resolved else ["tests/test_mod.py::test_add"]
  return {
      "task_id": task, "group": group, "turns": turns, "termination": "submit",
      "patch": patch, "resolved": resolved, "reward": float(resolved),
      "reward_parts": {"resolved": float(resolved), "length": 0.0}, "version": iteration,
      "format_errors": sum(s["format_error"] for s in steps), "seconds": 30.0,
      "infra_error": None, "stage": stage, "iteration": iteration,
      "grade": {"reason": "resolved" if resolved else "tests_failed", "graded": True,
                "failed": failed, "failed_count": len(failed), "missing": [],
                "missing_count": 0, "error_types": {}, "note": "",
                "exit_code": 0 if resolved else 1, "seconds": 2.0, "cached": False},
      "num_tokens": rng.randint(1500, 9000), "num_action_tokens": 400,
      "view": {"issue": _text(rng, 600), "turns": steps}}


def synthetic_run(workdir: str, episodes: int, *, tasks: int = 200, group: int = 8,
                  seed: int = 0) -> str:
  """A workdir of `episodes` episodes over DAPO iterations of tasks x group, plus metrics."""
  rng = random.Random(seed)
  os.makedirs(os.path.join(workdir, data.TRAJECTORIES), exist_ok=True)
  per_iteration = 16 * group
  iterations = max(1, -(-episodes // per_iteration))
  written = 0
  with open(os.path.join(workdir, "metrics.jsonl"), "w", encoding="utf-8") as metrics:
    for it in range(1, iterations + 1):
      path = os.path.join(workdir, data.TRAJECTORIES, f"dapo_{it}.jsonl")
      with open(path, "w", encoding="utf-8") as f:
        for p in range(16):
          task = f"synth__task-{rng.randrange(tasks):04d}"
          for g in range(group):
            if written < episodes:
              f.write(json.dumps(synthetic_episode(rng, "dapo", it, task, g)) + "\n")
              written += 1
      metrics.write(json.dumps({
          "stage": "dapo", "iteration": it, "solve_rate": rng.random(), "reward_mean": rng.random(),
          "episode_len_mean": rng.uniform(3, 6), "tokens_mean": rng.uniform(2000, 8000),
          "learner/grad_norm": rng.uniform(0.1, 2), "learner/clip_low_frac": rng.random() / 50,
          "learner/clip_high_frac": rng.random() / 50, "time/total": 100.0,
          "time/rollouts": 70.0, "time/learner": 30.0}) + "\n")
    metrics.write(json.dumps({"stage": "eval_final", "iteration": iterations,
                              "eval/pass@1": 0.3, "eval/stderr": 0.02, "eval/pass@k": 0.5,
                              "eval/k": 4}) + "\n")
  return workdir


def write_inline(workdir: str, path: str) -> str:
  """The naive report: one HTML page with every episode inlined and listed at load."""
  eps = data.read_episodes(workdir)
  payload = json.dumps(eps).replace("</", "<\\/")
  page = """<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>inline report</title></head><body>
<select id="outcome"><option value="">all</option><option value="solved">solved</option></select>
<div id="detail"></div><table id="list"><tbody></tbody></table>
<script>const EPISODES = %s;</script>
<script>
let version = 0;
function draw() {
  const want = document.getElementById('outcome').value, body = document.querySelector('#list tbody');
  body.innerHTML = '';
  EPISODES.forEach((e, i) => {
    if (want === 'solved' && !e.resolved) return;
    const tr = document.createElement('tr');
    tr.innerHTML = '<td>' + e.stage + '_' + e.iteration + '.' + e.task + '.' + e.group + '</td><td>' +
      (e.resolved ? 'solved' : 'unsolved') + '</td><td>' + e.reward + '</td><td>' + e.turns + '</td>';
    tr.onclick = () => { document.getElementById('detail').textContent = JSON.stringify(e); };
    body.append(tr);
  });
  document.documentElement.dataset.list = ++version;
}
document.getElementById('outcome').onchange = draw;
draw();
document.documentElement.dataset.ready = '1';
</script></body></html>""" % payload
  with open(path, "w", encoding="utf-8") as f:
    f.write(page)
  return path


def _open(context, url: str, *, select: str, timeout_ms: float) -> dict[str, float]:
  """Seconds to the ready marker, then for a filter change to redraw the list."""
  page = context.new_page()
  errors: list[str] = []
  page.on("pageerror", lambda e: errors.append(str(e)))
  page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
  t0 = time.perf_counter()
  page.goto(url, timeout=timeout_ms)
  page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=timeout_ms)
  ready = time.perf_counter() - t0
  before = page.evaluate("document.documentElement.dataset.list")
  t1 = time.perf_counter()
  page.select_option(select, "solved", timeout=timeout_ms)
  page.wait_for_function(f"document.documentElement.dataset.list !== {json.dumps(before)}",
                         timeout=timeout_ms)
  filtered = time.perf_counter() - t1
  page.close()
  if errors:
    raise RuntimeError(f"{url}: errors on the page: {errors[:3]}")
  return {"ready_s": ready, "filter_s": filtered, "interactive_s": ready + filtered}


def _open_episode(context, url: str, episode: str, timeout_ms: float) -> float:
  page = context.new_page()
  t0 = time.perf_counter()
  page.goto(url, timeout=timeout_ms)
  page.wait_for_function(f"document.documentElement.dataset.episode === {json.dumps(episode)}",
                         timeout=timeout_ms)
  page.close()
  return time.perf_counter() - t0


def _size(folder: str) -> int:
  return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


def run(episodes: int, out: str, *, timeout_s: float = 300.0) -> dict:
  workdir = synthetic_run(os.path.join(out, "run"), episodes)
  t0 = time.perf_counter()
  index = build.write_report([workdir], os.path.join(out, "report"))
  build_s = time.perf_counter() - t0
  inline = write_inline(workdir, os.path.join(out, "inline.html"))
  ms = timeout_s * 1000
  with browser.chromium() as context:
    ours = _open(context, browser.file_url(index, "tab=episodes"),
                 select="select[data-filter=outcome]", timeout_ms=ms)
    first = context.new_page()
    first.goto(browser.file_url(index, "tab=episodes"))
    first.wait_for_selector(".list tbody tr")
    episode = first.locator(".list tbody tr").last.get_attribute("data-ep")
    first.close()
    open_s = _open_episode(context, browser.file_url(index, f"ep={episode}"), episode, ms)
    overview = context.new_page()
    t0 = time.perf_counter()
    overview.goto(browser.file_url(index), timeout=ms)
    overview.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=ms)
    overview_s = time.perf_counter() - t0
    overview.close()
    naive = _open(context, browser.file_url(inline), select="#outcome", timeout_ms=ms)
  return {
      "episodes": episodes, "build_s": round(build_s, 3),
      "swejax_ready_s": round(ours["ready_s"], 3), "swejax_filter_s": round(ours["filter_s"], 3),
      "swejax_interactive_s": round(ours["interactive_s"], 3),
      "swejax_open_episode_s": round(open_s, 3),
      "swejax_overview_ready_s": round(overview_s, 3),
      "inline_ready_s": round(naive["ready_s"], 3), "inline_filter_s": round(naive["filter_s"], 3),
      "inline_interactive_s": round(naive["interactive_s"], 3),
      "index_bytes": os.path.getsize(os.path.join(out, "report", "data", "index.js")),
      "report_bytes": _size(os.path.join(out, "report")),
      "inline_bytes": os.path.getsize(inline), "target_s": TARGET_S,
      "under_target": ours["interactive_s"] < TARGET_S,
      "ratio_vs_inline": round(naive["interactive_s"] / ours["interactive_s"], 2)}


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m swejax.bench.report", description=__doc__)
  p.add_argument("--episodes", type=int, default=20_000)
  p.add_argument("--out", default=None, help="where the run and reports go (default: a temp dir)")
  args = p.parse_args(argv)
  if args.episodes < 1:
    p.error("--episodes must be >= 1")
  if args.out:
    result = run(args.episodes, args.out)
  else:
    with tempfile.TemporaryDirectory(prefix="swejax-bench-report-") as out:
      result = run(args.episodes, out)
  for k, v in result.items():
    print(f"{k}: {v}")
  print(json.dumps(result))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
