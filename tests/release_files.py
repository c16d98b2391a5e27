"""Reading a release as a reader would: every file as text (Parquet decoded), and a digest of a folder."""

import hashlib
import zipfile
from pathlib import Path


def published_text(week_dir: Path) -> str:
    """Everything a reader gets, as text: CSV, JSON, README, SHA256SUMS, and the Parquet files decoded."""
    import pyarrow.parquet as pq

    parts = []
    for path in sorted(week_dir.rglob("*")):
        if path.suffix == ".parquet":
            parts.append(pq.read_table(path).to_pandas().to_csv(index=False))
        elif path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                parts += [archive.read(name).decode("utf-8") for name in archive.namelist()]
        elif path.is_file():
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
