"""What a run does first, once it holds the warehouse's release lock: clean up after runs that died.

A run killed (`kill -9`, a lost machine) can leave, and only leave:
- its staging folder (`<COMMONS_EXPORT_STAGING_DIR>/<run id>/`): removed;
- a publication begun and not recorded (a row of the ledger's `publication_journal`): the target folder of that
  week is put back to what the ledger says was published: the week folder if its SHA256SUMS matches the ledger,
  else the hidden previous release that does, else no folder at all when the ledger has none of that week;
  `.incoming-…` copies and stale `.previous-…` folders are removed. The new release is then made again by the
  run itself, from the models it rebuilds and checks;
- its Dagster run, still STARTED: marked failed (see commons_assets/release/lock.py).

Everything here is decided by the files and the ledger, never by which step the dead run was in.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from commons_assets.release.targets import INCOMING_PREFIX, PREVIOUS_PREFIX

SUMS_FILE = "SHA256SUMS"


def listed_sums(week_dir: Path) -> dict[str, str] | None:
    """{path: sha256} as the folder's SHA256SUMS lists them; None if it has none (not a whole release)."""
    sums = week_dir / SUMS_FILE
    if not sums.is_file():
        return None
    listed = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if name:
            listed[name] = digest
    return listed


def matches_ledger(week_dir: Path, recorded: dict[str, str]) -> bool:
    """Does this folder hold the release the ledger recorded (every recorded file, with its checksum)?"""
    listed = listed_sums(week_dir) if week_dir.is_dir() else None
    if listed is None or not recorded:
        return False
    return all(listed.get(path) == digest for path, digest in recorded.items())


def reconcile_week_folder(target_root: Path, week: str, recorded: dict[str, str]) -> str:
    """Put `<target_root>/<week>` back to what the ledger recorded (`recorded`: {path: sha256}, empty when the
    week was never published there) and remove the hidden folders a dead publication left. Returns what was
    done, in one line for the run's log."""
    if not target_root.is_dir():
        return f"{target_root} does not exist: nothing to reconcile"
    final = target_root / week
    incoming = sorted(target_root.glob(f"{INCOMING_PREFIX}{week}-*"))
    previous = sorted(target_root.glob(f"{PREVIOUS_PREFIX}{week}-*"))
    for folder in incoming:
        shutil.rmtree(folder, ignore_errors=True)
    if matches_ledger(final, recorded):
        action = f"{final} matches the ledger: kept"
    elif not recorded:
        shutil.rmtree(final, ignore_errors=True)
        action = f"{week} was never recorded in the ledger for {target_root}: unrecorded folder removed"
    else:
        restorable = next((p for p in previous if matches_ledger(p, recorded)), None)
        if restorable is None:
            return (
                f"{final} does not match the ledger and no previous copy does: left as it is, the release "
                f"of {week} to {target_root} must be made again"
            )
        shutil.rmtree(final, ignore_errors=True)
        os.replace(restorable, final)
        previous.remove(restorable)
        action = f"{final} restored to the release the ledger recorded"
    for folder in previous:
        shutil.rmtree(folder, ignore_errors=True)
    removed = len(incoming) + len(previous)
    return action + (f"; {removed} leftover folder(s) removed" if removed else "")


def remove_dead_staging(staging_root: Path, keep: str | set[str]) -> list[str]:
    """Remove the staging folder of every run but those in `keep` (this run, and the live runs of any warehouse
    sharing the folder: called under the release lock, when no other run of this warehouse can be exporting);
    returns the run ids removed."""
    if not staging_root.is_dir():
        return []
    keep = {keep} if isinstance(keep, str) else keep
    removed = []
    for folder in sorted(staging_root.iterdir()):
        if folder.is_dir() and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed
