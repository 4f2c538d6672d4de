"""`python -m ingestion status`: what the stream has done and what waits for it."""

from __future__ import annotations

from pathlib import Path

from ingestion import ledger
from ingestion.files import in_flight
from ingestion.parts import display_name
from ingestion.watcher import ignored_files, waiting_files
from pipeline import db, partitions


def committed_batches() -> int:
    """Micro-batches committed to the warehouse so far, by any query."""
    with db.connection("loader") as conn, conn.cursor() as cur:
        return ledger.batch_totals(cur).batches


def _partitions(cur) -> list[str]:
    """raw's partitions (migration 0005) per table, and what retention dropped."""
    if not partitions.available(cur.connection):
        return []
    cur.execute(
        "select table_name, count(*), min(range_from), bool_or(range_from is null), "
        "max(range_to), sum(bytes)::bigint, (select width::text from raw.partitioning) "
        "from raw.partitions group by table_name order by table_name"
    )
    lines = []
    for table, count, first, before, last, size, width in cur.fetchall():
        since = "the table of the release before" if before else f"{first:%Y-%m-%d %H:%M}"
        lines.append(
            f"partitions      raw.{table}: {count} ({width} each), from {since} "
            f"to {last:%Y-%m-%d %H:%M} UTC, {size / 1e6:,.1f} MB"
        )
    cur.execute(
        "select count(*), coalesce(sum(rows), 0), max(range_to), max(dropped_at) "
        "from raw.partitions_dropped"
    )
    dropped, rows, until, at = cur.fetchone()
    lines.append(
        f"retention       {dropped} partitions dropped ({rows:,} rows, all ingested before "
        f"{until:%Y-%m-%d %H:%M} UTC), last at {at:%Y-%m-%d %H:%M:%S}"
        if dropped
        else "retention       no partition dropped (ecom maintain --retention-days, "
        "ECOM_RAW_RETENTION_DAYS)"
    )
    return lines


def report(input_dir: Path, checkpoint_dir: Path, last: int = 10) -> str:
    waiting = waiting_files(input_dir) if input_dir.is_dir() else []
    ignored = ignored_files(input_dir) if input_dir.is_dir() else []
    claimed = len(in_flight(checkpoint_dir))
    lines = [
        f"inputs folder   {input_dir}: {len(waiting)} file(s) waiting, {claimed} in flight"
        + (f", {len(ignored)} ignored" if ignored else "")
    ]
    for name, reason in ignored[:10]:
        lines.append(f"  ignored       {display_name(name)}: {reason}")
    if len(ignored) > 10:
        lines.append(f"  ignored       ... and {len(ignored) - 10} more")
    # one query for the contract's own dialect, one (checkpoint/multiline) for the rest
    # (another header or delimiter, multi-line records, escapes: the Python path)
    for query, folder in (("plain", checkpoint_dir), ("Python-read", checkpoint_dir / "multiline")):
        commits = folder / "commits"
        committed = (
            [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.is_dir() else []
        )
        lines.append(
            f"checkpoint      {folder} ({query} files): "
            + (f"last committed batch {max(committed)}" if committed else "no batch committed yet")
        )
    with db.connection("loader") as conn, conn.cursor() as cur:
        batches, rows_in, loaded, rejected, newest = ledger.batch_totals(cur)
        lines.append(
            f"ledger totals   {batches} batches, {rows_in} rows in, {loaded} loaded, "
            f"{rejected} rejected; last commit {newest:%Y-%m-%d %H:%M:%S %Z}"
            if batches
            else "ledger totals   no batch yet"
        )
        files_loaded, file_rows, files_quarantined, files_claimed = ledger.file_totals(cur)
        lines.append(
            f"file ledger     {files_loaded} files loaded ({file_rows} rows), "
            f"{files_claimed} in flight, {files_quarantined} quarantined whole"
        )
        lines.extend(_partitions(cur))
        for name, reason, at in ledger.quarantined_files(cur, 5):
            lines.append(f"  quarantined   {at:%Y-%m-%d %H:%M:%S} {name}: {reason}")
        rows = ledger.last_batches(cur, last)
    if rows:
        lines.append("")
        lines.append(
            f"{'stream':<26} {'batch':>6} {'files':>5} {'rows in':>9} {'loaded':>9} "
            f"{'rejected':>8}  {'committed (UTC)':<19} {'seconds':>7}"
        )
        for stream, batch, files, r_in, r_ok, r_bad, at, secs in rows:
            lines.append(
                f"{stream:<26} {batch:>6} {files:>5} {r_in:>9} {r_ok:>9} {r_bad:>8}  "
                f"{at:%Y-%m-%d %H:%M:%S} {float(secs):>7.2f}"
            )
    return "\n".join(lines)
