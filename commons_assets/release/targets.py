"""Where a release goes. The local folder: `<target>/<ISO week>/<dataset>/…`, appearing whole or not at all."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from commons_assets.errors import TargetError


def publish_to_folder(staged_week_dir: Path, target_root: Path, week: str) -> Path:
    """Move a staged week folder to `<target_root>/<week>` atomically.

    The files are first copied next to the destination (same filesystem), then renamed into place: a reader
    sees the previous release or the new one, never half of one. A previous release of the same week is
    swapped out and removed only once the new one is in place.
    """
    target_root = target_root.resolve()
    try:
        target_root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TargetError(f"cannot create the release folder {target_root}: {err.strerror}") from None
    final = target_root / week
    tmp = target_root / f".incoming-{week}-{uuid.uuid4().hex[:8]}"
    old = target_root / f".previous-{week}-{uuid.uuid4().hex[:8]}"
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
    shutil.rmtree(old, ignore_errors=True)
    return final
