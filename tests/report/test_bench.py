"""The report benchmark, small: it runs end to end and prints its JSON line."""
import importlib.util
import json

import pytest

from swejax.bench import report as bench
from swejax.report import browser


def test_bench_prints_times_and_the_ratio(capsys, tmp_path):
  if importlib.util.find_spec("playwright") is None:
    pytest.skip("the playwright package is not installed (pip install -e .[test])")
  try:
    browser.check_chromium()
  except FileNotFoundError as e:
    pytest.skip(str(e))
  assert bench.main(["--episodes", "200", "--out", str(tmp_path)]) == 0
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert result["episodes"] == 200 and result["ratio_vs_inline"] > 0
  assert 0 < result["swejax_interactive_s"] < 30 and result["swejax_open_episode_s"] > 0
