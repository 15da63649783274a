"""Experiment configs: `configs/*.py` files with `get_config(arg) -> ConfigDict`.

    --config=configs/x.py[:variant] --config.rl.group_size=10 --workdir=DIR

The config is locked: an unknown key or a wrongly typed value fails before any work
starts, with a message naming the flag.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping

import ml_collections
from absl import flags
from ml_collections import config_flags


class UsageError(ValueError):
  """Bad command-line input; the message names what is wrong."""


def _config_arg(argv: list[str]) -> str | None:
  for i, a in enumerate(argv):
    if a.startswith("--config="):
      return a.split("=", 1)[1]
    if a == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def _has_path(config, dotted: str) -> tuple[bool, str]:
  node = config
  parts = dotted.split(".")
  for i, key in enumerate(parts):
    if not isinstance(node, (ml_collections.ConfigDict, Mapping)) or key not in node:
      where = ".".join(["config"] + parts[:i])
      known = sorted(node.keys()) if isinstance(node, (ml_collections.ConfigDict, Mapping)) else []
      hint = f" ({where} has: {', '.join(known)})" if known else ""
      return False, f"unknown config key --config.{dotted}{hint}"
    node = node[key]
  return True, ""


def parse_flags(argv: list[str], prog: str,
                extra: Mapping[str, tuple[str | None, str]] | None = None,
                require_config: bool = True) -> tuple[ml_collections.ConfigDict | None, dict]:
  """(locked config with overrides applied, {extra flag: value}); raises UsageError."""
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "configs/NAME.py[:variant]", flag_values=fv,
                                  lock_config=True)
  for name, (default, help_) in (extra or {}).items():
    flags.DEFINE_string(name, default, help_, flag_values=fv)
  path = _config_arg(argv)
  if path is None and require_config:
    raise UsageError(f"{prog}: --config=configs/NAME.py[:variant] is required")
  if path is not None and not os.path.exists(path.split(":", 1)[0]):
    raise UsageError(f"{prog}: --config: no such file {path.split(':', 1)[0]!r}")
  saved_argv = sys.argv
  try:
    # config_flags discovers the --config.* override flags from sys.argv.
    sys.argv = [prog] + list(argv)
    rest = fv([prog] + list(argv))
    config = fv.config if path is not None else None
  except flags.Error as e:
    raise UsageError(f"{prog}: {e}") from None
  except (AttributeError, KeyError, TypeError, ValueError, OSError) as e:
    base = _load_plain(path) if path else None
    for a in argv:
      if a.startswith("--config."):
        ok, msg = _has_path(base, a[len("--config."):].split("=", 1)[0])
        if not ok:
          raise UsageError(f"{prog}: {msg}") from None
    raise UsageError(f"{prog}: --config={path}: {type(e).__name__}: {e}") from None
  finally:
    sys.argv = saved_argv
  if len(rest) > 1:
    raise UsageError(f"{prog}: unexpected argument(s): {' '.join(rest[1:])}")
  return config, {name: fv[name].value for name in (extra or {})}


def _load_plain(path: str) -> ml_collections.ConfigDict:
  """The config without overrides (for error messages)."""
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=fv)
  saved, sys.argv = sys.argv, ["x", f"--config={path}"]
  try:
    fv(["x", f"--config={path}"])
    return fv.config
  finally:
    sys.argv = saved
