import subprocess
import sys

import pytest

from swejax.config import UsageError, parse_flags

CFG = "configs/dapo_qwen2_5_72b.py:stage1"


def test_override_applies_and_keeps_type():
  config, extra = parse_flags([f"--config={CFG}", "--config.rl.group_size=4", "--workdir=/x"],
                              "swejax train", {"workdir": (None, "")})
  assert config.rl.group_size == 4 and extra["workdir"] == "/x"


@pytest.mark.parametrize("bad,needle", [
    ("--config.no_such_key=1", "config.no_such_key"),
    ("--config.rl.no_such=1", "config.rl.no_such"),
    ("--config.rl.group_size=ten", "config.rl.group_size"),
])
def test_bad_override_names_the_key(bad, needle):
  with pytest.raises(UsageError, match=needle.replace(".", r"\.")):
    parse_flags([f"--config={CFG}", bad], "swejax train")


def test_missing_file_is_named():
  with pytest.raises(UsageError, match="nope.py"):
    parse_flags(["--config=configs/nope.py"], "swejax train")


def test_cli_exits_nonzero_naming_the_key():
  """Through the real console entry point, before any work starts."""
  out = subprocess.run([sys.executable, "-m", "swejax", f"--config={CFG}",
                        "--config.no_such_key=1"], capture_output=True, text=True, timeout=120)
  assert out.returncode != 0
  assert "no_such_key" in out.stderr
  assert "Traceback" not in out.stderr
