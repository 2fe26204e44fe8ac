"""The real command line, as users run it: the installed package in this interpreter."""

from __future__ import annotations

import sys

MAILFERRY = [sys.executable, "-m", "mailferry"]
