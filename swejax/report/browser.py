"""Headless Chromium for the report's tests and benchmark (Playwright, the system browser).

Playwright's own browser download is not used: `executable_path` points at Debian's
`chromium` package, started with a fresh profile and no background network traffic.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator

from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def check_chromium(path: str = CHROMIUM) -> str:
  if not os.access(path, os.X_OK):
    raise FileNotFoundError(f"no Chromium at {path}: install Debian's chromium package "
                            "(apt-get install -y chromium chromium-driver)")
  return path


@contextlib.contextmanager
def chromium(path: str = CHROMIUM) -> Iterator[BrowserContext]:
  """A browser context with a fresh --user-data-dir, closed (and the profile removed) after."""
  check_chromium(path)
  with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="swejax-chromium-") as profile:
    context = p.chromium.launch_persistent_context(
        profile, executable_path=path, headless=True, args=list(FLAGS),
        viewport={"width": 1280, "height": 900})
    try:
      yield context
    finally:
      context.close()


def file_url(path: str, fragment: str = "") -> str:
  url = "file://" + os.path.abspath(path)
  return url + ("#" + fragment if fragment else "")
