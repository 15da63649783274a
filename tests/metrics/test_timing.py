"""Timer accumulates per phase; Progress rewrites one line on a tty, throttles otherwise."""
import io

from swejax.metrics import Progress, Timer


class FakeClock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_timer_accumulates_named_phases():
  clock = FakeClock()
  timer = Timer(clock=clock)
  with timer("rollouts"):
    clock.now += 3.0
  with timer("learner"):
    clock.now += 1.5
  with timer("rollouts"):
    clock.now += 2.0
  assert timer.as_metrics() == {"time/rollouts": 5.0, "time/learner": 1.5}
  timer.reset()
  assert timer.as_metrics() == {}


def test_timer_counts_time_when_the_block_raises():
  clock = FakeClock()
  timer = Timer(clock=clock)
  try:
    with timer("grading"):
      clock.now += 2.0
      raise RuntimeError("boom")
  except RuntimeError:
    pass
  assert timer.seconds == {"grading": 2.0}


class Tty(io.StringIO):
  def isatty(self):
    return True


def test_progress_on_a_tty_rewrites_one_line():
  out = Tty()
  p = Progress(8, stream=out, clock=FakeClock())
  p.update(1, 1, 12.0)
  p.update(4, 1, 95.4)
  p.close()
  text = out.getvalue()
  assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
  last = text.split("\r")[-1]
  assert "4/8 (50%)" in last and "solved 1 (rate 0.25)" in last and "slowest running 95s" in last


def test_progress_in_a_log_prints_every_interval_and_the_end():
  clock = FakeClock()
  out = io.StringIO()
  p = Progress(10, stream=out, interval_s=5.0, clock=clock)
  for done in range(1, 11):
    clock.now += 1.0
    p.update(done, done // 2, None if done == 10 else 30.0)
  p.close()
  lines = out.getvalue().splitlines()
  assert "\r" not in out.getvalue()
  # t=1 (first), t=6 (5 s later), t=10 (done == total).
  assert [l.split()[1] for l in lines] == ["1/10", "6/10", "10/10"]
  assert lines[-1].endswith("slowest running -") and "rate 0.50" in lines[-1]


def test_progress_close_prints_a_pending_state():
  clock = FakeClock()
  out = io.StringIO()
  p = Progress(10, stream=out, interval_s=60.0, clock=clock)
  p.update(1, 0, 1.0)
  p.update(3, 2, 4.0)
  p.close()
  assert [l.split()[1] for l in out.getvalue().splitlines()] == ["1/10", "3/10"]
