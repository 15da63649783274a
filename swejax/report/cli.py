"""`swejax report RUN [RUN_B] [--out DIR]`: the static HTML report of a run, or of two side by side.

    swejax report WORKDIR                 # writes WORKDIR/report/index.html
    swejax report RUN_A RUN_B --out DIR   # two runs: one table, curves on the same axes

Open the printed index.html in a browser; it needs no server and no network.
"""
from __future__ import annotations

import argparse
import os

from swejax.config import UsageError
from swejax.report.build import write_report


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="swejax report", description=__doc__.split("\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("runs", nargs="+", metavar="WORKDIR", help="the --workdir of `swejax train`")
  p.add_argument("--out", default=None,
                 help="output directory (default: WORKDIR/report for one run; required for two)")
  return p


def main(argv: list[str]) -> int:
  args = _parser().parse_args(argv)
  if len(args.runs) > 1 and not args.out:
    raise UsageError("swejax report: comparing runs needs --out DIR")
  out = args.out or os.path.join(args.runs[0], "report")
  try:
    path = write_report(args.runs, out)
  except ValueError as e:
    raise UsageError(str(e)) from e
  print(f"report: {os.path.abspath(path)} (open it in a browser; no server needed)")
  return 0
