"""`ast.parse` under one lock.

CPython 3.11 keeps the AST converter's recursion depth in per-interpreter state, so two
threads parsing at once can fail with "SystemError: AST constructor recursion depth
mismatch". The synthesizers parse from worker threads; every parse goes through here.
"""
from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, mode: str = "exec") -> ast.AST:
  with _LOCK:
    return ast.parse(source, mode=mode)
