"""Where a release goes. The local folder: `<target>/<ISO week>/<dataset>/…`, appearing whole or not at all."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from commons_assets.errors import TargetError

# Hidden folders beside the weeks: a copy on its way in, and the release it replaces until the ledger has
# recorded the new one (commons_assets/release/recovery.py reads the same names after a crash).
INCOMING_PREFIX = ".incoming-"
PREVIOUS_PREFIX = ".previous-"


def check_folder_target(target_root: Path) -> Path:
    """The release folder, resolved, if it is (or can become) a folder this process can write into; else a
    TargetError naming it. Cheap: run it before any work."""
    target_root = target_root.expanduser().resolve()
    if target_root.exists() and not target_root.is_dir():
        raise TargetError(f"the release target {target_root} is a file, not a folder: give a folder (--target)")
    existing = target_root
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise TargetError(f"the release target {target_root} is under {existing}, which is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TargetError(f"the release target {existing} is not writable by this user: give a writable --target")
    return target_root


def move_into_place(staged_week_dir: Path, target_root: Path, week: str) -> tuple[Path, Path | None]:
    """Move a staged week folder to `<target_root>/<week>`; returns it and the hidden folder now holding the
    release it replaced (None if there was none), which `discard_previous` removes once the ledger has
    recorded the new one.

    The files are first copied next to the destination (same filesystem), then renamed into place: a reader
    sees the previous release or the new one, never half of one.
    """
    target_root = target_root.resolve()
    try:
        target_root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TargetError(f"cannot create the release folder {target_root}: {err.strerror}") from None
    final = target_root / week
    tmp = target_root / f"{INCOMING_PREFIX}{week}-{uuid.uuid4().hex[:8]}"
    old = target_root / f"{PREVIOUS_PREFIX}{week}-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(staged_week_dir, tmp)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not final.exists():
            os.replace(old, final)
        raise TargetError(f"cannot write the release into {target_root}: {err.strerror}") from None
    return final, (old if old.exists() else None)


def put_back(final: Path, previous: Path | None) -> None:
    """Undo move_into_place (the ledger could not record the new release): the previous release, or none."""
    shutil.rmtree(final, ignore_errors=True)
    if previous is not None:
        os.replace(previous, final)


def discard_previous(previous: Path | None) -> None:
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def publish_to_folder(staged_week_dir: Path, target_root: Path, week: str) -> Path:
    """Move a staged week folder into place and drop the release it replaced (no ledger involved)."""
    final, previous = move_into_place(staged_week_dir, target_root, week)
    discard_previous(previous)
    return final
