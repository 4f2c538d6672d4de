"""The intake's state machine on real folders, with the file ledger held in memory (no Spark,
no PostgreSQL): claim, register, release, commit, quarantine, and recovery after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion import ledger
from ingestion.intake import Intake
from ingestion.ledger import FileStatus, NewDelivery
from ingestion.parts import Part, sequence_of
from pipeline import contract

HEADER = contract.CSV_HEADER + "\n"
ROW = "e{n},view,u1,Ann,p1,Lamp,home,9.99,1,2026-11-25T10:00:00Z,s1\n"
PART_BYTES = 1 << 16  # the least a part holds: the first read of a file is 64 KiB
ROWS = 3000  # about 200 kB: four parts


class MemoryLedger:
    """ingestion.ledger.FileLedger's interface over a dict, as the sink would leave it."""

    def __init__(self) -> None:
        self.files: dict[str, NewDelivery] = {}
        self.statuses: dict[str, FileStatus] = {}
        self.parts: dict[str, set[int]] = {}

    def register(self, deliveries: list[NewDelivery]) -> None:
        for one in deliveries:
            if one.delivery_id not in self.files:
                self.files[one.delivery_id] = one
                self.statuses[one.delivery_id] = one.status

    def status(self, delivery_id: str) -> FileStatus | None:
        return self.statuses.get(delivery_id)

    def committed_parts(self, delivery_id: str) -> set[int]:
        return set(self.parts.get(delivery_id, set()))

    def settled(self, delivery_ids: list[str]) -> set[str]:
        return {d for d in delivery_ids if self.statuses.get(d) not in (None, ledger.CLAIMED)}

    def commit(self, part: str) -> list[str]:
        """The sink's transaction for one part: its ledger row, then claimed -> loaded."""
        info = Part.parse(part)
        self.parts.setdefault(info.delivery_id, set()).add(info.part)
        done = len(self.parts[info.delivery_id]) == self.files[info.delivery_id].parts
        if done and self.statuses[info.delivery_id] == ledger.CLAIMED:
            self.statuses[info.delivery_id] = ledger.LOADED
            return [info.delivery_id]
        return []

    def connection(self):
        raise AssertionError("the state machine needs no connection of its own")

    def close(self) -> None:
        pass


def _intake(tmp_path: Path, files: MemoryLedger, **options) -> Intake:
    return Intake(
        tmp_path / "inputs",
        tmp_path / "work",
        tmp_path / "archive",
        tmp_path / "quarantine",
        settle_seconds=0,
        poll_seconds=0,
        file_ledger=files,
        **options,
    )


def _released(intake: Intake) -> list[Path]:
    return sorted(intake.released(), key=lambda path: sequence_of(path.name))


@pytest.fixture
def files() -> MemoryLedger:
    return MemoryLedger()


def test_a_file_is_claimed_registered_released_then_archived_once_committed(tmp_path, files):
    intake = _intake(tmp_path, files)
    (tmp_path / "inputs" / "2026" / "11").mkdir(parents=True)
    source = tmp_path / "inputs" / "2026" / "11" / "orders.csv"
    source.write_text(HEADER + ROW.format(n=1) + ROW.format(n=2))

    assert intake.step() == 1
    assert not source.exists() and intake.waiting() == 0
    [delivery] = files.files.values()
    assert (delivery.source_file, delivery.parts, delivery.status) == (
        "2026/11/orders.csv",
        1,
        ledger.CLAIMED,
    )
    assert delivery.size_bytes == len(HEADER) + 2 * len(ROW.format(n=1)) and delivery.sha256
    [part] = _released(intake)
    assert Part.parse(part.name).delivery_id == delivery.delivery_id
    assert part.read_text() == HEADER + ROW.format(n=1) + ROW.format(n=2)
    assert intake.in_flight_count() == 1

    completed = files.commit(part.name)
    intake.committed([part.name], completed)
    assert files.status(delivery.delivery_id) == ledger.LOADED
    assert not part.exists() and intake.in_flight_count() == 0
    assert (tmp_path / "archive" / "2026" / "11" / "orders.csv").read_text().startswith(HEADER)
    assert intake.step() == 0  # nothing taken twice


def test_a_file_that_is_not_csv_text_is_quarantined_whole(tmp_path, files):
    intake = _intake(tmp_path, files)
    (tmp_path / "inputs" / "photo.csv").write_bytes(b"\x89PNG\x00\x00\x00\x00" * 64)
    assert intake.step() == 1
    [delivery] = files.files.values()
    assert delivery.status == ledger.QUARANTINED and "binary data" in delivery.reason
    assert (tmp_path / "quarantine" / "photo.csv").exists()
    assert intake.released() == [] and intake.quarantined_by == {"not_csv_text": 1}


def test_an_empty_file_is_registered_loaded_and_archived_at_once(tmp_path, files):
    intake = _intake(tmp_path, files)
    (tmp_path / "inputs" / "empty.csv").write_bytes(b"")
    intake.step()
    [delivery] = files.files.values()
    assert (delivery.parts, delivery.status) == (0, ledger.LOADED)
    assert (tmp_path / "archive" / "empty.csv").exists() and intake.released() == []


def test_a_big_file_is_cut_between_records_each_part_with_the_header(tmp_path, files):
    intake = _intake(tmp_path, files, part_bytes=PART_BYTES)
    rows = [ROW.format(n=n) for n in range(ROWS)]
    (tmp_path / "inputs" / "big.csv").write_text(HEADER + "".join(rows))
    intake.step()
    released = _released(intake)
    [delivery] = files.files.values()
    assert delivery.parts == len(released) > 2
    lines = []
    for part in released:
        text = part.read_text()
        assert text.startswith(HEADER)  # a later part starts with a copy of the first line
        lines += text.splitlines(keepends=True)[1:]
    assert lines == rows  # every record once, none cut


def test_a_restart_finishes_what_the_ledger_says_was_loaded(tmp_path, files):
    before = _intake(tmp_path, files)
    (tmp_path / "inputs" / "a.csv").write_text(HEADER + ROW.format(n=1))
    before.step()
    [part] = _released(before)
    files.commit(part.name)  # the sink committed, then the job died before its housekeeping

    after = _intake(tmp_path, files)
    after.recover()
    assert after.released() == [] and after.in_flight_count() == 0
    assert (tmp_path / "archive" / "a.csv").exists()


def test_a_restart_releases_again_only_the_parts_not_committed(tmp_path, files):
    before = _intake(tmp_path, files, part_bytes=PART_BYTES)
    (tmp_path / "inputs" / "big.csv").write_text(
        HEADER + "".join(ROW.format(n=n) for n in range(ROWS))
    )
    before.step()
    first, *rest = _released(before)
    files.commit(first.name)
    before.committed([first.name], [])
    top = max(sequence_of(path.name) for path in rest)

    after = _intake(tmp_path, files, part_bytes=PART_BYTES)
    after.recover()
    again = _released(after)
    assert sorted(Part.parse(p.name).part for p in again) == sorted(
        Part.parse(p.name).part for p in rest
    )
    # numbered again, above any offset Spark may have read past
    assert min(sequence_of(path.name) for path in again) > top
    for part in again:
        files.commit(part.name)
    after.committed([p.name for p in again], [next(iter(files.files))])
    assert (tmp_path / "archive" / "big.csv").exists() and after.in_flight_count() == 0


def test_a_delivery_quarantined_before_a_restart_is_moved_after_it(tmp_path, files):
    before = _intake(tmp_path, files)
    (tmp_path / "inputs" / "a.csv").write_text(HEADER + ROW.format(n=1))
    before.step()
    [delivery_id] = files.files
    files.statuses[delivery_id] = ledger.QUARANTINED  # as a crash between the two would leave
    for part in before.released():
        part.unlink()

    after = _intake(tmp_path, files)
    after.recover()
    assert (tmp_path / "quarantine" / "a.csv").exists()
    assert after.quarantined_by == {"restart": 1}
