"""MetricsWriter: jsonl + TensorBoard + summary; read_metrics merges; plots are real PNGs."""
import glob
import io
import json
import os
import struct

import numpy as np
import pytest

from swejax.metrics import MetricsWriter, Timer, format_summary, read_metrics, write_plots


def _record(it, stage="dapo"):
  return {"iteration": it, "stage": stage, "solve_rate": 0.1 * it, "reward_mean": 0.2 * it - 0.1,
          "episode_len_mean": 12.0 - it, "episodes": np.int64(40),
          "learner": {"loss": np.float32(0.5 / (it + 1)), "clip_low_frac": 0.01,
                      "clip_high_frac": 0.02, "approx_kl": 1e-3, "grad_norm": 0.7,
                      "logprob_diff_mean": 2e-4},
          "time": {"rollouts": 30.0 + it, "grading": 5.0, "learner": 8.0, "weight_sync": 0.4}}


def test_records_are_flat_json_lines_flushed_at_once(tmp_path):
  writer = MetricsWriter(tmp_path)
  writer.write(_record(0))
  # Readable before close: flushed per write.
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert len(lines) == 1
  rec = json.loads(lines[0])
  assert rec["iteration"] == 0 and rec["stage"] == "dapo"
  assert rec["learner/loss"] == pytest.approx(0.5) and rec["time/grading"] == 5.0
  assert rec["episodes"] == 40 and isinstance(rec["episodes"], int)
  writer.write({"iteration": 1, "stage": "dapo", "x": float("nan"), "y": np.float64(np.inf)})
  writer.close()
  rec = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[1])
  assert rec["x"] is None and rec["y"] is None


def _scalars(event_file):
  """(tag, step, value) of every scalar in a TFRecord event file."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  data = open(event_file, "rb").read()
  out, pos = [], 0
  while pos < len(data):
    (length,) = struct.unpack("<Q", data[pos:pos + 8])
    event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
    pos += 12 + length + 4
    out += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
  return out


def test_tensorboard_gets_scalars_per_stage(tmp_path):
  with MetricsWriter(tmp_path) as writer:
    writer.write(_record(2, stage="rft"))
  files = glob.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*"))
  assert len(files) == 1
  scalars = {tag: (step, value) for tag, step, value in _scalars(files[0])}
  assert "rft/learner/loss" in scalars and "rft/time/rollouts" in scalars
  assert "rft/iteration" not in scalars and "rft/stage" not in scalars
  assert scalars["rft/solve_rate"] == (2, pytest.approx(0.2))


@pytest.mark.parametrize("record,match", [
    ({"stage": "dapo"}, "iteration"),
    ({"iteration": -1, "stage": "dapo"}, "iteration"),
    ({"iteration": True, "stage": "dapo"}, "iteration"),
    ({"iteration": 0}, "stage"),
    ({"iteration": 0, "stage": "dapo", "v": np.zeros(3)}, "'v' is an array of shape \\(3,\\)"),
    ({"iteration": 0, "stage": "dapo", "v": object()}, "'v' has type object"),
])
def test_bad_records_are_refused_with_the_field(tmp_path, record, match):
  with MetricsWriter(tmp_path) as writer:
    with pytest.raises(ValueError, match=match):
      writer.write(record)
  assert (tmp_path / "metrics.jsonl").read_text() == ""


def test_read_metrics_merges_repeats_and_skips_a_torn_last_line(tmp_path):
  with MetricsWriter(tmp_path) as writer:
    for it in range(3):
      writer.write(_record(it))
    writer.write({"iteration": 2, "stage": "dapo", "eval": {"pass@1": 0.3, "stderr": 0.05}})
    writer.write({"iteration": 2, "stage": "dapo", "solve_rate": 0.99})  # a resumed retry
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write('{"iteration": 3, "sta')  # killed mid-write
  records = read_metrics(tmp_path)
  assert [(r["stage"], r["iteration"]) for r in records] == [("dapo", 0), ("dapo", 1),
                                                              ("dapo", 2)]
  assert records[2]["solve_rate"] == 0.99 and records[2]["eval/pass@1"] == 0.3
  assert records[2]["learner/grad_norm"] == 0.7


def test_read_metrics_names_a_bad_middle_row(tmp_path):
  (tmp_path / "metrics.jsonl").write_text('{"iteration": 0, "stage": "a"}\nnot json\n'
                                          '{"iteration": 1, "stage": "a"}\n')
  with pytest.raises(ValueError, match=r"metrics.jsonl, row 2"):
    read_metrics(tmp_path)


def test_format_summary_is_one_line_with_the_key_figures():
  timer = Timer()
  timer.seconds = {"rollouts": 30.0, "learner": 8.0}
  line = format_summary({**_record(3), "time": {}, **timer.as_metrics(),
                         "eval": {"pass@1": 0.25, "stderr": 0.04, "pass@k": 0.5, "k": 4}})
  assert "\n" not in line
  assert line.startswith("[dapo 3] ")
  for part in ("solve 0.3", "reward 0.5", "loss 0.125", "gnorm 0.7", "pass@1 0.25+-0.04",
               "pass@4 0.5", "38.0s (rollouts 30.0 learner 8.0)"):
    assert part in line, (part, line)


def test_format_summary_shows_the_wall_time_and_summed_work_apart():
  line = format_summary({**_record(1), "time": {
      "total": 60.0, "rollouts": 50.0, "learner": 10.0, "grading_summed": 480.0}})
  assert "60.0s (rollouts 50.0 learner 10.0) | grading 480.0s summed over episodes" in line


def test_console_gets_the_summary(tmp_path):
  console = io.StringIO()
  with MetricsWriter(tmp_path, console=console) as writer:
    writer.write(_record(1))
  assert console.getvalue() == format_summary(_record(1)) + "\n"


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_write_plots_from_metrics_jsonl(tmp_path):
  with MetricsWriter(tmp_path) as writer:
    for it in range(3):
      writer.write(_record(it, stage="rft" if it == 0 else "dapo"))
    writer.write({"iteration": 2, "stage": "dapo",
                  "eval": {"pass@1": 0.3, "stderr": 0.05, "pass@k": 0.5, "k": 4}})
  # A fresh process (e.g. after a resume) plots from the file alone.
  paths = write_plots(tmp_path)
  names = sorted(os.path.basename(p) for p in paths)
  assert names == ["episode_length.png", "learner.png", "reward.png", "solve_rate.png",
                   "time.png"]
  for p in paths:
    data = open(p, "rb").read()
    assert data.startswith(_PNG_MAGIC) and len(data) > 5000, p
  assert sorted(os.listdir(tmp_path / "plots")) == names


def test_write_plots_skips_series_that_are_absent(tmp_path):
  with MetricsWriter(tmp_path) as writer:
    writer.write({"iteration": 0, "stage": "base", "eval": {"pass@1": 0.1, "stderr": None}})
  paths = write_plots(tmp_path)
  assert [os.path.basename(p) for p in paths] == ["solve_rate.png"]
  assert write_plots(tmp_path / "empty") == []
