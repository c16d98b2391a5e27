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


@cache
def repository_url() -> str:
    """Where the public finds the code: COMMONS_REPOSITORY_URL, else this checkout's `origin` remote."""
    from commons_assets.settings import get_settings

    configured = get_settings().repository_url
    if configured:
        return configured
    try:
        origin = subprocess.run(
            ["git", "remote", "get-url", "origin"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        origin = ""
    # a local path or an URL carrying credentials is not for the public
    if origin.startswith("https://") and "@" not in origin:
        return origin.removesuffix(".git")
    return ""
