"""Export: stream each published table out of PostgreSQL into a staging folder.

Rows never pass through pandas: COPY … TO STDOUT is streamed to disk in chunks, so memory does not grow with
the size of the service.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from psycopg import sql

from commons_assets.privacy.gate import check_allow_list, relation_columns
from commons_assets.privacy.policy import PublishedModel


class ExportError(RuntimeError):
    """The export refused to write something; the message names the dataset and column."""


@dataclass(frozen=True)
class ExportedFile:
    dataset: str
    path: str  # relative to the week folder
    rows: int
    bytes: int
    sha256: str


def _order_by(model: PublishedModel) -> list[str]:
    # Sorting by the published columns makes the file independent of the order rows were written in the
    # source, which could otherwise hint at who came first.
    return model.column_names


def export_csv(conn, model: PublishedModel, week_dir: Path) -> ExportedFile:
    """Write `<week_dir>/<dataset>/<dataset>.csv` (UTF-8, comma, header row) and return what was written."""
    actual = relation_columns(conn, model)
    findings = check_allow_list(actual, model)
    if findings:
        # Re-checked here, on what is about to be written, whatever the gate said earlier.
        raise ExportError("export refused: " + "; ".join(f.message for f in findings))
    folder = week_dir / model.dataset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model.dataset}.csv"
    columns = sql.SQL(", ").join(map(sql.Identifier, model.column_names))
    query = sql.SQL(
        "copy (select {columns} from {rel} order by {order}) to stdout with (format csv, header true, encoding 'UTF8')"
    ).format(
        columns=columns,
        rel=sql.SQL(model.relation),
        order=sql.SQL(", ").join(map(sql.Identifier, _order_by(model))),
    )
    digest = hashlib.sha256()
    size = 0
    with conn.cursor() as cursor, open(path, "wb") as out:
        with cursor.copy(query) as copy:
            for chunk in copy:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    (rows,) = conn.execute(sql.SQL("select count(*) from {rel}").format(rel=sql.SQL(model.relation))).fetchone()
    return ExportedFile(
        dataset=model.dataset,
        path=str(path.relative_to(week_dir)),
        rows=int(rows),
        bytes=size,
        sha256=digest.hexdigest(),
    )


def write_release_manifest(week_dir: Path, week: str, files: list[ExportedFile]) -> Path:
    path = week_dir / "release.json"
    path.write_text(
        json.dumps({"week": week, "files": [asdict(f) for f in files]}, ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    return path


def new_staging_dir(staging_root: Path, run_id: str, week: str) -> Path:
    week_dir = staging_root / run_id / week
    if week_dir.exists():
        shutil.rmtree(week_dir)
    week_dir.mkdir(parents=True)
    return week_dir
