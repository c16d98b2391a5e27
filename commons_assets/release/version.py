"""The exact code that made a release: the git commit of this checkout, else the package version."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

from commons_assets import __version__

REPO_ROOT = Path(__file__).resolve().parents[2]


@cache
def code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit, dirty = "", ""
    if not commit:
        return __version__
    return commit + ("-dirty" if dirty else "")
