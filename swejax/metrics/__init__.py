"""Metrics of a run: metrics.jsonl + TensorBoard, console summary, plots, timers, Pass@k.

  writer = MetricsWriter(workdir, console=sys.stdout)    # on JAX process 0 only
  timer = Timer()
  with timer("rollouts"): ...
  writer.write({"iteration": it, "stage": "dapo", "solve_rate": 0.4, "reward_mean": 0.3,
                "learner": learner_metrics, **timer.as_metrics()})
  write_plots(workdir)                                    # WORKDIR/plots/*.png

Records are flat dicts (nested dicts are flattened to "a/b" keys) with at least `iteration`
(int) and `stage` (str). The summary line and the plots know these keys:
  solve_rate, reward_mean, episode_len_mean (actions), episodes, dropped_groups;
  learner/<name> as swejax.learner reports them (loss, clip_low_frac, clip_high_frac,
  approx_kl, grad_norm, logprob_diff_mean, ...);
  time/total (wall seconds of the unit), time/rollouts, time/learner, time/weight_sync
  (its parts), time/grading_summed (grading seconds summed over concurrent episodes);
  eval/pass@1, eval/stderr, eval/pass@k, eval/k (see swejax.metrics.passk for definitions).
Other keys are stored and sent to TensorBoard too. NaN and inf are stored as null.
"""
from swejax.metrics.passk import pass1_with_stderr, pass_at_k, pass_at_k_mean
from swejax.metrics.plots import write_plots
from swejax.metrics.timing import Progress, Timer
from swejax.metrics.writer import (MetricsWriter, check_record, flatten, format_summary,
                                   read_metrics)

__all__ = [
    "MetricsWriter", "Progress", "Timer", "check_record", "flatten", "format_summary",
    "pass1_with_stderr", "pass_at_k", "pass_at_k_mean", "read_metrics", "write_plots",
]
