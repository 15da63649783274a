"""The report of a real smoke run, opened from disk in headless Chromium."""
import json
import os

import pytest

from swejax import cli
from swejax.bench import report as bench
from swejax.report import browser, data, record

pytestmark = pytest.mark.slow


def _page(context, url: str):
  """A page that records console errors and uncaught exceptions."""
  page = context.new_page()
  page.errors = []
  page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
  page.on("pageerror", lambda e: page.errors.append(str(e)))
  page.goto(url)
  page.wait_for_function("document.documentElement.dataset.ready === '1'")
  return page


@pytest.fixture(scope="module")
def report(smoke_workdir, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("report"))
  assert cli.main(["report", smoke_workdir, "--out", out]) == 0
  return os.path.join(out, "index.html")


def test_the_run_writes_its_report_after_each_evaluation(smoke_workdir):
  assert os.path.exists(os.path.join(smoke_workdir, "report", "index.html"))
  assert os.path.exists(os.path.join(smoke_workdir, "report", "data", "index.js"))


def test_episode_lines_are_readable_and_bounded(smoke_workdir):
  sizes = []
  for _, _, path in data.trajectory_files(smoke_workdir):
    for line in open(path, encoding="utf-8"):
      sizes.append(len(line))
      row = json.loads(line)
      view = row["view"]
      assert len(view["turns"]) == row["turns"] and view["issue"]
      t = view["turns"][0]
      assert {"action", "observation", "format_error", "action_tokens", "logprobs",
              "seconds"} <= set(t)
      for turn in view["turns"]:  # capped: head and tail, and a line saying how much was cut
        assert len(turn["action"]) <= record.ACTION_CHARS + 80
        assert len(turn["observation"]) <= record.OBSERVATION_CHARS + 80
  print(f"episode lines: {len(sizes)}, mean {sum(sizes) / len(sizes):.0f} bytes")


def test_report_opens_with_no_console_errors(report, chromium):
  page = _page(chromium, browser.file_url(report))
  assert page.locator("#table1 tbody tr").count() == 2  # base and final
  assert "final" in page.inner_text("#table1")
  assert page.locator(".chart svg").count() >= 4
  assert page.locator(".matrix td[title]").count() > 0
  page.click("#nav-episodes")
  page.wait_for_selector(".list tbody tr")
  page.select_option("select[data-filter=outcome]", "unsolved")
  page.wait_for_selector(".list tbody tr")
  assert page.errors == []
  page.close()


def test_an_episode_link_opens_that_episode(report, smoke_workdir, chromium, tmp_path):
  _, _, path = data.trajectory_files(smoke_workdir)[-1]
  row = json.loads(open(path, encoding="utf-8").readline())
  ep = data.episode_id(row["stage"], row["iteration"], row["task_id"], row["group"])
  action = row["view"]["turns"][0]["action"]
  # From the list, filtered to the episode's task, by its link ...
  page = _page(chromium, browser.file_url(report, f"tab=episodes&task={row['task_id']}"))
  page.click(f'tr[data-ep="{ep}"] a')
  page.wait_for_function(f"document.documentElement.dataset.episode === {json.dumps(ep)}")
  assert page.locator("pre.action").first.text_content() == action
  # ... and straight from the address.
  direct = _page(chromium, browser.file_url(report, f"ep={ep}"))
  direct.wait_for_function(f"document.documentElement.dataset.episode === {json.dumps(ep)}")
  assert direct.locator("pre.action").first.text_content() == action
  assert row["view"]["turns"][0]["observation"] in direct.inner_text("#turns")
  assert "reason" in direct.inner_text("#grading")
  direct.screenshot(path=str(tmp_path / "episode.png"))
  assert os.path.getsize(tmp_path / "episode.png") > 10_000
  direct.keyboard.press("j")  # the next episode of the list
  direct.wait_for_function(f"document.documentElement.dataset.episode !== {json.dumps(ep)}")
  assert page.errors == [] and direct.errors == []


def test_two_runs_side_by_side(smoke_workdir, chromium, tmp_path):
  other = bench.synthetic_run(str(tmp_path / "synthetic"), 64)
  out = str(tmp_path / "compare")
  assert cli.main(["report", smoke_workdir, other, "--out", out]) == 0
  page = _page(chromium, browser.file_url(os.path.join(out, "index.html")))
  table = page.inner_text("#table1")
  assert os.path.basename(smoke_workdir) in table and "synthetic" in table
  legend = page.inner_text(".chart:has-text('solve rate') .legend")
  assert "synthetic" in legend and os.path.basename(smoke_workdir) in legend
  assert page.errors == []
  # The second run's unsolved episodes list their failing tests, and patches show as diffs.
  rows = [json.loads(l) for l in open(os.path.join(other, "trajectories", "dapo_1.jsonl"))]
  row = next(r for r in rows if not r["resolved"] and r["patch"])
  ep = data.episode_id("dapo", 1, row["task_id"], row["group"])
  page.goto(browser.file_url(os.path.join(out, "index.html"), f"run=1&ep={ep}"))
  page.wait_for_function(f"document.documentElement.dataset.episode === {json.dumps(ep)}")
  assert "tests/test_mod.py::test_add" in page.inner_text("#grading")
  assert page.locator(".diff .add").count() == 1 and page.locator(".diff .del").count() == 1
  assert page.errors == []
