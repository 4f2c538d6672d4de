"""The event generator as a library: contract, determinism, faults, funnel, atomic hand-off."""

from __future__ import annotations

import csv
import hashlib
import random
import re
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from generator import catalog, faults, manifest, run
from generator.events import EventStream, uuid_column
from generator.files import OutputError
from pipeline import contract
from pipeline.settings import SettingsError

START = datetime(2026, 11, 1, tzinfo=UTC)
NAME = re.compile(r"^events-\d{8}T\d{6}-[0-9a-f]{8}-\d{6}\.csv$")
EVENT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PRICE = re.compile(r"^\d+\.\d{2}$")
COL = {name: index for index, name in enumerate(contract.FIELD_NAMES)}


def _batch(tmp_path: Path, events: int, name: str = "run", **options) -> tuple[Path, Path]:
    """Run a batch into tmp_path/<name>; return (output folder, manifest)."""
    options.setdefault("seed", 1)
    options.setdefault("start_time", START)
    config = run.Config(
        output_dir=tmp_path / name / "inputs",
        manifest=tmp_path / name / "manifest.jsonl",
        **options,
    )
    summary = run.run_batch(config, events)
    assert summary.events == events and not summary.stopped
    return config.output_dir, config.manifest


def _files(output_dir: Path, manifest_path: Path) -> list[tuple[dict, bytes]]:
    """Each manifest entry with the bytes of its file, in manifest order."""
    return [(e, (output_dir / e["file"]).read_bytes()) for e in manifest.read(manifest_path)]


def _records(output_dir: Path, manifest_path: Path) -> list[list[str]]:
    """All data rows of a run, parsed, in file and line order."""
    rows = []
    for _, data in _files(output_dir, manifest_path):
        lines = data.decode("utf-8").split("\n")
        rows.extend(line.split(",") if '"' not in line else _parse(line) for line in lines[1:-1])
    return rows


def _parse(line: str) -> list[str]:
    return next(csv.reader([line]))


def test_the_catalog_is_seeded_and_varied():
    shop = catalog.build(21)
    assert len(shop.products) == catalog.DEFAULT_PRODUCTS and len(shop.users) == 10_000
    assert {p.category for p in shop.products} == {c.name for c in catalog.CATEGORIES}
    for product in shop.products:
        values = [str(uuid.uuid4()), "view", "1", "x", str(product.product_id), product.name]
        values.append(product.category)
        values += [product.price, "1", "2026-11-01T00:00:00Z", "s-1-1"]
        assert contract.validate_row(values) == [], product
    assert len({p.name for p in shop.products}) > 400
    assert len({u.name for u in shop.users}) > 5_000
    # Propensities vary by product and by category.
    assert len({round(p.cart_rate, 4) for p in shop.products}) > 400
    by_category = {
        c.name: [p.buy_rate for p in shop.products if p.category == c.name]
        for c in catalog.CATEGORIES
    }
    means = sorted(sum(rates) / len(rates) for rates in by_category.values())
    assert means[-1] > 1.5 * means[0]
    rebuilt = catalog.build.__wrapped__(21)  # not the cached one
    assert rebuilt == shop
    assert catalog.build.__wrapped__(22).users != shop.users


def test_uuid_column_gives_distinct_version_4_uuids():
    column = uuid_column(random.Random(5), 2000)
    ids = [column[37 * i : 37 * i + 36] for i in range(2000)]
    assert all(column[37 * i + 36] == "," for i in range(2000))
    parsed = [uuid.UUID(value) for value in ids]
    assert [str(u) for u in parsed] == ids  # canonical lowercase spelling
    assert {u.version for u in parsed} == {4}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert len(set(ids)) == len(ids)
    assert uuid_column(random.Random(5), 2000) == column  # seeded
    assert uuid_column(random.Random(6), 2000) != column


def test_seeded_runs_are_byte_for_byte_identical(tmp_path):
    options = dict(seed=11, rows_per_file=3000, bad_rate=0.02, duplicate_rate=0.02)
    first = _files(*_batch(tmp_path, 9000, "a", **options))
    second = _files(*_batch(tmp_path, 9000, "b", **options))
    other = _files(*_batch(tmp_path, 9000, "c", **{**options, "seed": 12}))

    assert len(first) == len(second) == 3
    assert [data for _, data in first] == [data for _, data in second]
    volatile = ("file", "created_at")  # the run id and the wall clock
    strip = [{k: v for k, v in e.items() if k not in volatile} for e, _ in first]
    assert strip == [{k: v for k, v in e.items() if k not in volatile} for e, _ in second]
    assert [e["file"] for e, _ in first] != [e["file"] for e, _ in second]
    assert [data for _, data in first] != [data for _, data in other]


def test_files_follow_the_format_and_every_good_row_the_contract(tmp_path):
    output_dir, manifest_path = _batch(tmp_path, 25_000, rows_per_file=10_000)
    files = _files(output_dir, manifest_path)
    assert [e["rows"] for e, _ in files] == [10_000, 10_000, 5_000]
    names = [e["file"] for e, _ in files]
    assert all(NAME.match(name) for name in names) and names == sorted(names)
    assert sorted(p.name for p in output_dir.iterdir()) == sorted(names)  # no tmp left over
    for entry, data in files:
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["seed"] == 1 and entry["bad_rows"] == entry["duplicate_rows"] == 0
        assert b"\r" not in data
        text = data.decode("utf-8")
        assert text.endswith("\n")
        lines = text.split("\n")[:-1]
        assert lines[0] == contract.CSV_HEADER
        assert len(lines) - 1 == entry["rows"]
        for line in lines[1:]:
            assert contract.validate_line(line) == [], line
    rows = _records(output_dir, manifest_path)
    assert len({row[COL["event_id"]] for row in rows}) == len(rows)
    assert all(EVENT_TIME.match(row[COL["event_time"]]) for row in rows)
    assert all(PRICE.match(row[COL["price"]]) for row in rows)
    assert {row[COL["event_type"]] for row in rows} == set(contract.EVENT_TYPES)
    assert any('"' in line for _, data in files for line in data.decode().split("\n"))  # quoting
    first = sorted(contract.parse_timestamp(row[COL["event_time"]]) for row in rows[:101])
    assert START <= first[50] < START + timedelta(seconds=1)  # the clock starts at start_time


@pytest.mark.parametrize("kind", faults.BAD_KINDS)
def test_every_kind_of_bad_row_is_rejected_and_stays_on_one_line(kind):
    stream = EventStream(catalog.build(1), 1, start_ms=1_790_000_000_000, rate=1000)
    rng = random.Random(kind)
    for _ in range(300):
        values = stream._random_values()
        assert contract.validate_row(values) == []  # the raw material is valid...
        line = faults.bad_line(rng, values, kind)
        assert line.endswith("\n") and "\n" not in line[:-1] and "\r" not in line
        assert contract.validate_line(line[:-1]) != [], (kind, line)  # ...the bad row is not


def test_injected_faults_are_counted_in_the_manifest(tmp_path):
    output_dir, manifest_path = _batch(
        tmp_path, 30_000, rows_per_file=5_000, bad_rate=0.05, duplicate_rate=0.03
    )
    seen: dict[str, str] = {}
    total_bad = total_duplicates = 0
    for entry, data in _files(output_dir, manifest_path):
        lines = data.decode("utf-8").split("\n")[1:-1]
        assert len(lines) == entry["rows"] == 5_000 + entry["duplicate_rows"]  # dups on top
        bad = duplicates = 0
        for line in lines:
            if contract.validate_line(line):
                bad += 1
                continue
            event_id = line[:36]
            if event_id in seen:
                assert seen[event_id] == line  # a duplicate repeats the earlier line verbatim
                duplicates += 1
            seen[event_id] = line
        assert (bad, duplicates) == (entry["bad_rows"], entry["duplicate_rows"])
        total_bad += bad
        total_duplicates += duplicates
    assert 0.04 * 30_000 < total_bad < 0.06 * 30_000
    assert 0.02 * 30_000 < total_duplicates < 0.04 * 30_000
    # Reconciliation: every event asked for is a distinct good event or a bad row; the
    # manifest's rows add the re-sent lines on top.
    assert len(seen) + total_bad == 30_000
    assert sum(e["rows"] for e in manifest.read(manifest_path)) == 30_000 + total_duplicates


def test_duplicates_reach_into_later_files(tmp_path):
    output_dir, manifest_path = _batch(tmp_path, 8_000, rows_per_file=200, duplicate_rate=0.2)
    first_file: dict[str, int] = {}
    across = 0
    for number, (_, data) in enumerate(_files(output_dir, manifest_path)):
        for line in data.decode().split("\n")[1:-1]:
            if line[:36] in first_file and first_file[line[:36]] < number:
                across += 1
            first_file.setdefault(line[:36], number)
    assert across > 0


def test_sessions_follow_the_funnel(tmp_path):
    output_dir, manifest_path = _batch(tmp_path, 60_000, sessions=300, seed=3)
    rows = _records(output_dir, manifest_path)
    types = Counter(row[COL["event_type"]] for row in rows)
    assert types["purchase"] < types["add_to_cart"] < types["view"]
    assert 0.05 < types["add_to_cart"] / types["view"] < 0.3
    assert 0.2 < types["purchase"] / types["add_to_cart"] < 0.8

    viewed: set[tuple[str, str]] = set()
    carted: set[tuple[str, str]] = set()
    last_time: dict[str, datetime] = {}
    prices: dict[str, str] = {}
    users: dict[str, str] = {}
    for row in rows:
        kind, session, product = (
            row[COL["event_type"]],
            row[COL["session_id"]],
            row[COL["product_id"]],
        )
        key = (session, product)
        quantity = int(row[COL["quantity"]])
        if kind == "view":
            viewed.add(key)
            assert quantity == 1
        elif kind == "add_to_cart":
            assert key in viewed, row  # only what this session viewed
            carted.add(key)
            assert quantity == 1
        else:
            assert key in carted, row  # only what this session carted
            assert 1 <= quantity <= 5
        assert prices.setdefault(product, row[COL["price"]]) == row[COL["price"]]  # stable price
        assert users.setdefault(session, row[COL["user_id"]]) == row[COL["user_id"]]
        assert session.startswith(f"s-{row[COL['user_id']]}-")
        moment = contract.parse_timestamp(row[COL["event_time"]])
        assert moment >= last_time.get(session, moment)  # a session's events keep their order
        last_time[session] = moment
    assert len(prices) > 100  # many products, not one


def test_a_small_share_of_events_is_late(tmp_path):
    output_dir, manifest_path = _batch(tmp_path, 60_000, seed=4)
    latest = None
    late = 0
    lateness = []
    for row in _records(output_dir, manifest_path):
        moment = contract.parse_timestamp(row[COL["event_time"]])
        if latest is not None and (latest - moment).total_seconds() > 60:
            late += 1
            lateness.append((latest - moment).total_seconds())
        latest = moment if latest is None else max(latest, moment)
    assert 0.005 * 60_000 < late < 0.05 * 60_000
    assert max(lateness) <= 3600 + 120


def test_a_reader_never_sees_an_incomplete_file(tmp_path):
    output_dir = tmp_path / "inputs"
    output_dir.mkdir()
    seen: dict[str, bytes] = {}
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            for path in output_dir.glob("*.csv"):
                if path.name not in seen:
                    seen[path.name] = path.read_bytes()
            time.sleep(0.001)

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        config = run.Config(
            output_dir=output_dir,
            manifest=tmp_path / "manifest.jsonl",
            seed=5,
            start_time=START,
            rows_per_file=2_000,
            bad_rate=0.01,
        )
        run.run_batch(config, 120_000)
    finally:
        done.set()
        reader.join()

    entries = {e["file"]: e for e in manifest.read(tmp_path / "manifest.jsonl")}
    assert len(entries) == 60
    assert len(seen) > 5  # the reader did look while files were being written
    for name, data in seen.items():
        assert data.startswith((contract.CSV_HEADER + "\n").encode()) and data.endswith(b"\n")
        assert data == (output_dir / name).read_bytes()
        assert data.count(b"\n") - 1 == entries[name]["rows"]
    assert not [p for p in output_dir.iterdir() if p.name.endswith(".tmp")]


def test_runs_never_reuse_a_file_name(tmp_path):
    config = run.Config(
        output_dir=tmp_path / "in", manifest=tmp_path / "m.jsonl", seed=1, rows_per_file=100
    )
    run.run_batch(config, 500)
    run.run_batch(config, 500)
    names = [e["file"] for e in manifest.read(config.manifest)]
    assert len(names) == len(set(names)) == 10
    assert sorted(p.name for p in config.output_dir.iterdir()) == sorted(names)


def test_a_stop_request_ends_a_batch_between_files(tmp_path):
    stop = threading.Event()
    stop.set()
    config = run.Config(output_dir=tmp_path / "in", manifest=tmp_path / "m.jsonl", seed=1)
    summary = run.run_batch(config, 50_000, stop)
    assert summary.stopped and summary.files == 0
    assert list(config.output_dir.iterdir()) == []


def test_continuous_mode_writes_the_events_of_each_interval(tmp_path):
    stop = threading.Event()
    config = run.Config(
        output_dir=tmp_path / "in", manifest=tmp_path / "m.jsonl", seed=2, rate=500, interval=0.2
    )

    def stop_after_three_files() -> None:
        # by what was written, not by the clock: a loaded machine writes later, not fewer
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop.is_set():
            if config.manifest.exists() and len(manifest.read(config.manifest)) >= 3:
                break
            time.sleep(0.02)
        stop.set()

    watcher = threading.Thread(target=stop_after_three_files)
    watcher.start()
    before = datetime.now(UTC)
    summary = run.run_continuous(config, stop)
    watcher.join()
    entries = manifest.read(config.manifest)
    assert summary.stopped and 3 <= summary.files == len(entries)
    assert all(e["rows"] == 100 for e in entries)  # rate x interval
    rows = _records(config.output_dir, config.manifest)
    times = [contract.parse_timestamp(row[COL["event_time"]]) for row in rows]
    # Event times follow the wall clock (late sessions aside).
    assert sum(before.timestamp() - 1 <= t.timestamp() <= time.time() for t in times) > 0.9 * len(
        times
    )


def test_manifest_read_skips_only_a_cut_off_last_line(tmp_path):
    path = tmp_path / "manifest.jsonl"
    assert manifest.read(path) == []
    path.write_text('{"file": "a.csv", "rows": 1}\n{"file": "b.csv", "ro')
    assert manifest.read(path) == [{"file": "a.csv", "rows": 1}]
    path.write_text('{"file": "a.csv"\n{"file": "b.csv"}\n')
    with pytest.raises(ValueError, match="manifest.jsonl:1"):
        manifest.read(path)


def test_unusable_paths_and_settings_are_readable_errors(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write to the output folder .*--output-dir"):
        run.run_batch(
            run.Config(output_dir=blocker / "in", manifest=tmp_path / "m.jsonl", seed=1), 10
        )
    with pytest.raises(OutputError, match="inside the output folder"):
        run.run_batch(
            run.Config(output_dir=tmp_path / "in", manifest=tmp_path / "in" / "m.jsonl", seed=1),
            10,
        )
    with pytest.raises(SettingsError, match="--duplicate-rate must be a fraction"):
        run.Config(output_dir=tmp_path, manifest=tmp_path / "m", seed=1, duplicate_rate=1.5)
