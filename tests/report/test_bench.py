"""The report benchmark, small: it runs end to end and prints its JSON line."""
import json

from swejax.bench import report as bench


def test_bench_prints_times_and_the_ratio(chromium_installed, capsys, tmp_path):
  """The bench starts its own browser; `chromium_installed` (conftest) fails the test where
  the browser should be and is not."""
  assert bench.main(["--episodes", "200", "--out", str(tmp_path)]) == 0
  result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert result["episodes"] == 200 and result["ratio_vs_inline"] > 0
  assert 0 < result["swejax_interactive_s"] < 30 and result["swejax_open_episode_s"] > 0
