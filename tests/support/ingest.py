"""Load a folder of event CSV files into the raw layer, for the dbt tests: with the real job.

Runs the Spark Structured Streaming ingestion (``python -m ingestion --once``)
over the folder, with a checkpoint and an archive beside it: ingested files
move to the archive, so a second call ingests only the files added since the
first, exactly as the stream would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.streaming import REPO_ROOT


def ingest_csv_folder(input_dir: Path) -> None:
    """Ingest every ``*.csv`` in ``input_dir`` not ingested by an earlier call."""
    input_dir = Path(input_dir)
    checkpoint = input_dir.parent / f"{input_dir.name}.checkpoint"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingestion",
            "--once",
            "--input-dir",
            str(input_dir),
            "--checkpoint-dir",
            str(checkpoint),
            "--archive-dir",
            str(input_dir.parent / f"{input_dir.name}.archive"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
