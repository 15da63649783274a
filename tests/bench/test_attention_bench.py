import json
import subprocess
import sys


def test_attention_bench_prints_json_with_linear_blockwise_memory():
  out = subprocess.run([sys.executable, "-m", "swejax.bench.attention", "--max_len=4096",
                        "--block=256"], capture_output=True, text=True, timeout=600, check=True)
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert [r["T"] for r in result["rows"]] == [1024, 2048, 4096]
  assert result["blockwise_growth_exponent"] < 1.1
  assert result["xla_reference_growth_exponent"] > 1.5
  assert result["ratio_vs_xla_reference"] > 1.0
