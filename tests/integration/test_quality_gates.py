"""The quality gates, proven by mutation: every corruption on the list fails a gate.

A small warehouse is built once by the pipeline (generator -> streaming job ->
dbt build) and kept as a template database. For each corruption of MUTATIONS,
a copy is made from the template (``create database ... template``), the
corruption is applied to the copy as a loader bug, a bad hand edit or a broken
model would leave it, and the gates run on the copy: ``dbt test`` and every
Great Expectations checkpoint (``ecom checkpoint run --all``). A corruption is
caught when a constraint refuses it or a gate fails; the gate that owns the
layer runs first and the other only when it passes. The untouched copy must
pass both gates, through the commands a user types. The score is printed.

The gates run in this process (dbt's runner with the project parsed once, the
checkpoints through expectations.runner), the same code ``ecom dbt test`` and
``ecom checkpoint run`` call, to keep the suite within CI's time.

Left off the list, on purpose:
- a raw row sent again in a new batch with its own ledger row: the stream is
  at-least-once by design and staging keeps the first copy, so it is no error;
- a quarantined line's text changed: nothing keeps a checksum of a line (the
  file's sha256 covers the file, and the archive keeps the file);
- a row of dim_products or of a product mart duplicated, and the other marts'
  duplicates: refused by their primary keys, which the list shows once per
  table (fct_product_daily, dim_users) rather than for every mart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from ecom import dbt_runner
from expectations import checkpoints, runner
from pipeline import db, settings
from tests.support.marts import run_dbt
from tests.support.streaming import REPO_ROOT, Folders, generate, ingest_once, query, reset_raw

pytestmark = pytest.mark.integration

TEMPLATE = "gates_template"
COPY = "gates_copy"

# One row of a table, chosen the same way every run.
FIRST_EVENT = "(select event_id from raw.ecommerce_events order by event_id limit 1)"
ONE_COPY_EVENTS = (
    "(select event_id from raw.ecommerce_events group by event_id having count(*) = 1)"
)
ONE_COPY_EVENT = (
    "(select event_id from raw.ecommerce_events group by event_id having count(*) = 1 "
    "order by event_id limit 1)"
)
FIRST_PURCHASE = (
    "(select event_id from raw.ecommerce_events where event_type = 'purchase' "
    "order by event_id limit 1)"
)
SECOND_BATCH = "(select batch_id from raw.ingestion_batches order by batch_id offset 1 limit 1)"
STAGED_PURCHASES = (
    "select event_id from staging.stg_ecommerce__events "
    "where event_type = 'purchase' and quantity >= 2 order by event_id"
)


@dataclass(frozen=True)
class Mutation:
    """One corruption: ``statements`` run on a copy, as the administrator."""

    table: str
    what: str
    statements: tuple[str, ...]
    owner: str  # the gate that runs first: "dbt" or "gx"

    @property
    def name(self) -> str:
        return f"{self.table}: {self.what}"


def _move(table: str, column: str, keys: str, where: str = "true") -> tuple[str, ...]:
    """1 of ``column`` moved from the first row to the second (ordered by ``keys``, a
    comma-separated list, among the rows ``where`` holds): the total is unchanged."""
    ranked = f"select {keys} from {table} where {column} >= 1 and {where} order by {keys}"
    return (
        f"update {table} set {column} = {column} - 1 where ({keys}) = ({ranked} limit 1)",
        f"update {table} set {column} = {column} + 1 where ({keys}) = ({ranked} offset 1 limit 1)",
    )


def _mart(
    name: str, keys: str, value: str | None, moved: str | None, key_change: str
) -> list[Mutation]:
    """A mart's first row deleted, ``value`` changed, ``moved`` moved between two rows
    (the harder case of a changed value: the total holds), its key changed
    (``key_change``, a SET clause); ``keys`` orders the rows."""
    table = f"marts.{name}"
    first = f"({keys}) = (select {keys} from {table} order by {keys} limit 1)"
    mutations = [Mutation(table, "a row deleted", (f"delete from {table} where {first}",), "dbt")]
    if value:
        mutations.append(
            Mutation(
                table,
                f"{value} changed",
                (f"update {table} set {value} = {value} + 1 where {first}",),
                "dbt",
            )
        )
    if moved:
        mutations.append(
            Mutation(table, f"{moved} moved between two rows", _move(table, moved, keys), "dbt")
        )
    mutations.append(
        Mutation(table, "a key changed", (f"update {table} set {key_change} where {first}",), "dbt")
    )
    return mutations


FIRST_REJECT = (
    "(source_file, line_number) = (select source_file, line_number from {table} "
    "order by source_file, line_number limit 1)"
)
RAW_REJECT = FIRST_REJECT.format(table="raw.ecommerce_events_rejected")
STAGED_REJECT = FIRST_REJECT.format(table="staging.stg_ecommerce__events_rejected")


MUTATIONS: list[Mutation] = [
    # raw: the landing table, as a loader bug would leave it
    Mutation(
        "raw.ecommerce_events",
        "a row deleted",
        (f"delete from raw.ecommerce_events where event_id = {ONE_COPY_EVENT}",),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events",
        "a row duplicated in its batch",
        (
            "insert into raw.ecommerce_events select * from raw.ecommerce_events "
            f"where event_id = {ONE_COPY_EVENT}",
        ),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events",
        "a value changed to one the contract forbids",
        (f"update raw.ecommerce_events set quantity = 0 where event_id = {FIRST_PURCHASE}",),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events",
        "a price changed after staging",
        (f"update raw.ecommerce_events set price = price + 1 where event_id = {FIRST_PURCHASE}",),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events",
        "a quantity moved between two purchases",
        _move(
            "raw.ecommerce_events",
            "quantity",
            "event_id",
            f"event_type = 'purchase' and quantity >= 2 and event_id in {ONE_COPY_EVENTS}",
        ),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events",
        "a row moved to another batch",
        (
            f"update raw.ecommerce_events set batch_id = {SECOND_BATCH} "
            f"where event_id = {ONE_COPY_EVENT} and batch_id <> {SECOND_BATCH}",
        ),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events",
        "a key (event_id) changed",
        (
            "update raw.ecommerce_events set event_id = gen_random_uuid() "
            f"where event_id = {ONE_COPY_EVENT}",
        ),
        "gx",
    ),
    # raw: the quarantine
    Mutation(
        "raw.ecommerce_events_rejected",
        "a row deleted",
        (f"delete from raw.ecommerce_events_rejected where {RAW_REJECT}",),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events_rejected",
        "a row duplicated",
        (
            "insert into raw.ecommerce_events_rejected select * from "
            "raw.ecommerce_events_rejected order by source_file, line_number limit 1",
        ),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events_rejected",
        "its reasons emptied",
        (f"update raw.ecommerce_events_rejected set reasons = '{{}}' where {RAW_REJECT}",),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events_rejected",
        "a reason changed to one nobody documented",
        (f"update raw.ecommerce_events_rejected set reasons = '{{bad_vibes}}' where {RAW_REJECT}",),
        "gx",
    ),
    Mutation(
        "raw.ecommerce_events_rejected",
        "a row moved to another batch",
        (
            f"update raw.ecommerce_events_rejected set batch_id = {SECOND_BATCH} "
            "where (source_file, line_number) = (select source_file, line_number from "
            f"raw.ecommerce_events_rejected where batch_id <> {SECOND_BATCH} "
            "order by source_file, line_number limit 1)",
        ),
        "gx",
    ),
    # the ledgers
    Mutation(
        "raw.ingestion_batches",
        "a row deleted",
        (f"delete from raw.ingestion_batches where batch_id = {SECOND_BATCH}",),
        "gx",
    ),
    Mutation(
        "raw.ingestion_batches",
        "a row duplicated",
        (
            "insert into raw.ingestion_batches select * from raw.ingestion_batches "
            f"where batch_id = {SECOND_BATCH}",
        ),
        "gx",
    ),
    Mutation(
        "raw.ingestion_batches",
        "a row moved from loaded to rejected",
        (
            "update raw.ingestion_batches set rows_loaded = rows_loaded - 1, "
            f"rows_rejected = rows_rejected + 1 where batch_id = {SECOND_BATCH}",
        ),
        "gx",
    ),
    Mutation(
        "raw.ingestion_batches",
        "a key (batch_id) changed",
        (
            "update raw.ingestion_batches set batch_id = batch_id + 1000 "
            f"where batch_id = {SECOND_BATCH}",
        ),
        "gx",
    ),
    Mutation(
        "raw.ingestion_files",
        "a row deleted",
        (
            "delete from raw.ingestion_files where delivery_id = "
            "(select delivery_id from raw.ingestion_files order by delivery_id limit 1)",
        ),
        "gx",
    ),
    Mutation(
        "raw.ingestion_files",
        "a row moved from rejected to loaded",
        (
            "update raw.ingestion_files set rows_loaded = rows_loaded + 1, "
            "rows_rejected = rows_rejected - 1 where delivery_id = (select delivery_id from "
            "raw.ingestion_files where rows_rejected > 0 order by delivery_id limit 1)",
        ),
        "gx",
    ),
    Mutation(
        "raw.ingestion_file_parts",
        "a row deleted",
        (
            "delete from raw.ingestion_file_parts where (delivery_id, part) = (select "
            "delivery_id, part from raw.ingestion_file_parts order by delivery_id, part limit 1)",
        ),
        "gx",
    ),
    Mutation(
        "raw.ingestion_file_parts",
        "rows moved between two parts",
        (
            "update raw.ingestion_file_parts set rows_in = rows_in - 1, rows_loaded = rows_loaded - 1 "
            "where (delivery_id, part) = (select delivery_id, part from raw.ingestion_file_parts "
            "order by delivery_id, part limit 1)",
            "update raw.ingestion_file_parts set rows_in = rows_in + 1, rows_loaded = rows_loaded + 1 "
            "where (delivery_id, part) = (select delivery_id, part from raw.ingestion_file_parts "
            "order by delivery_id, part offset 1 limit 1)",
        ),
        "gx",
    ),
    # staging
    Mutation(
        "staging.stg_ecommerce__events",
        "a row deleted",
        (
            "delete from staging.stg_ecommerce__events where event_id = "
            "(select event_id from staging.stg_ecommerce__events order by event_id limit 1)",
        ),
        "dbt",
    ),
    Mutation(
        "staging.stg_ecommerce__events",
        "a row duplicated",
        (
            "insert into staging.stg_ecommerce__events select * from "
            "staging.stg_ecommerce__events order by event_id limit 1",
        ),
        "dbt",
    ),
    Mutation(
        "staging.stg_ecommerce__events",
        "a price changed",
        (
            "update staging.stg_ecommerce__events set unit_price = unit_price + 1 "
            f"where event_id = ({STAGED_PURCHASES} limit 1)",
        ),
        "dbt",
    ),
    Mutation(
        "staging.stg_ecommerce__events",
        "a quantity moved between two purchases",
        (
            "update staging.stg_ecommerce__events set quantity = quantity - 1 "
            f"where event_id = ({STAGED_PURCHASES} limit 1)",
            "update staging.stg_ecommerce__events set quantity = quantity + 1 "
            f"where event_id = ({STAGED_PURCHASES} offset 1 limit 1)",
        ),
        "dbt",
    ),
    Mutation(
        "staging.stg_ecommerce__events",
        "a key (event_id) changed",
        (
            "update staging.stg_ecommerce__events set event_id = gen_random_uuid() where "
            "event_id = (select event_id from staging.stg_ecommerce__events order by event_id "
            "limit 1)",
        ),
        "dbt",
    ),
    Mutation(
        "staging.stg_ecommerce__events_rejected",
        "a row deleted",
        (f"delete from staging.stg_ecommerce__events_rejected where {STAGED_REJECT}",),
        "dbt",
    ),
    # marts
    Mutation(
        "marts.fct_product_daily",
        "a row duplicated",
        (
            "insert into marts.fct_product_daily select * from marts.fct_product_daily "
            "order by product_id, event_date limit 1",
        ),
        "dbt",
    ),
    *_mart(
        "fct_product_daily",
        "product_id, event_date",
        None,
        "revenue",
        "product_id = product_id + 100000",
    ),
    *_mart(
        "fct_funnel_daily",
        "event_date",
        None,
        "sessions",
        "event_date = event_date - 1000",
    ),
    *_mart(
        "fct_revenue_hourly",
        "event_hour",
        None,
        "revenue",
        "event_hour = event_hour - interval '1000 days'",
    ),
    Mutation(
        "marts.dim_users",
        "a row duplicated",
        ("insert into marts.dim_users select * from marts.dim_users order by user_id limit 1",),
        "dbt",
    ),
    *_mart("dim_users", "user_id", None, "revenue", "user_id = user_id + 10000000"),
    Mutation(
        "marts.dim_users",
        "a name changed",
        (
            "update marts.dim_users set user_name = user_name || ' Jr.' where user_id = "
            "(select user_id from marts.dim_users order by user_id limit 1)",
        ),
        "dbt",
    ),
    *_mart("dim_products", "product_id", None, None, "product_id = product_id + 100000"),
    Mutation(
        "marts.dim_products",
        "a category changed",
        (
            "update marts.dim_products set category = 'Misc' where product_id = "
            "(select product_id from marts.dim_products order by product_id limit 1)",
        ),
        "dbt",
    ),
    *_mart(
        "revenue_by_product", "product_id", "units", "revenue", "product_id = product_id + 100000"
    ),
    *_mart(
        "conversion_rate_by_product",
        "product_id",
        None,
        "views",
        "product_id = product_id + 100000",
    ),
    Mutation(
        "marts.conversion_rate_by_product",
        "a rate changed (its counts kept)",
        (
            "update marts.conversion_rate_by_product set view_to_cart_rate = "
            "view_to_cart_rate + 0.1 where product_id = (select product_id from "
            "marts.conversion_rate_by_product where view_to_cart_rate is not null "
            "order by product_id limit 1)",
        ),
        "gx",
    ),
    *_mart(
        "fct_quarantine_daily",
        "rejected_date, reason",
        None,
        "rejected_lines",
        "rejected_date = rejected_date - 1000",
    ),
    # the stream committed every batch within the hour: there is no second hour to move to
    *_mart(
        "fct_ingestion_hourly",
        "committed_hour",
        "rows_loaded",
        None,
        "committed_hour = committed_hour - interval '1000 days'",
    ),
    *_mart(
        "fct_ingestion_files",
        "delivery_id",
        None,
        "rows_in",
        "delivery_id = delivery_id || '-elsewhere'",
    ),
]


# --------------------------------------------------------------------------- the warehouse


def _admin(statements: list[sql.Composable | str], dbname: str = "postgres") -> None:
    with db.connection(None, dbname=dbname) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)


def _copy(name: str) -> None:
    """A fresh copy of the template, named ``name``."""
    _admin(
        [
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)),
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE)
            ),
        ]
    )


@pytest.fixture(scope="module")
def template(warehouse, tmp_path_factory) -> Iterator[str]:
    """The pipeline's warehouse, once: 4,000 generated events over two days, with bad
    rows and re-sent ones, ingested by the streaming job and built by dbt; kept as the
    template database every copy starts from. No checkpoint has run on it, so the raw
    layer's first run on a copy checks every batch."""
    reset_raw()
    folders = Folders(tmp_path_factory.mktemp("gates"))
    start = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    generate(
        folders,
        *("--events", "4000", "--seed", "7", "--start-time", start),
        *("--rate", "0.05", "--sessions", "40", "--rows-per-file", "500"),
        *("--bad-rate", "0.02", "--duplicate-rate", "0.02"),
    )
    # two files a micro-batch: several batches, each with its rejects
    ingested = ingest_once(folders, "--max-files-per-trigger", "2")
    assert ingested.returncode == 0, ingested.stderr[-4000:]
    run_dbt("build", "--full-refresh")
    main = settings.environment()["PGDATABASE"]
    _admin(["delete from quality.checkpoint_runs"], dbname=main)
    # what the mutations need: batches with rejects, purchases to move, hours and days
    ((batches, with_rejects),) = query(
        "select count(*), count(*) filter (where rows_rejected > 0) from raw.ingestion_batches"
    )
    ((days, hours),) = query(
        "select count(distinct event_date), count(distinct date_trunc('hour', event_at)) "
        "from staging.stg_ecommerce__events"
    )
    assert batches >= 2 and with_rejects >= 2 and days >= 2 and hours >= 2
    _admin(
        [
            sql.SQL(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = {} and pid <> pg_backend_pid()"
            ).format(sql.Literal(main)),
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(TEMPLATE)),
            sql.SQL("create database {} template {}").format(
                sql.Identifier(TEMPLATE), sql.Identifier(main)
            ),
        ]
    )
    yield TEMPLATE
    _admin(
        [
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            for name in (COPY, TEMPLATE)
        ]
    )


# --------------------------------------------------------------------------- the gates


class Gates:
    """``dbt test`` and every checkpoint on the database PGDATABASE names, in this
    process: dbt parsed once, GX imported once."""

    def __init__(self, target: Path) -> None:
        os.environ.update(DBT_TARGET_PATH=str(target / "target"), DBT_LOG_PATH=str(target / "logs"))
        parsed = dbt_runner.invoke(["parse", "--quiet"])
        self._manifest = dbt_runner.check(parsed, "dbt parse").result

    def dbt(self) -> list[str]:
        """The dbt tests that fail (or error)."""
        # the data tests: dbt's unit tests read fixed inputs, never the warehouse
        result = dbt_runner.invoke(
            ["test", "--quiet", "--exclude", "test_type:unit"], manifest=self._manifest
        )
        failed = dbt_runner.failed_nodes(result)
        assert result.success or failed, result.exception
        return [node.node.name for node in failed]

    def gx(self) -> list[str]:
        """The expectations that fail, as table: expectation; the checkpoints run in
        layer order, up to the first that fails."""
        for outcome in runner.run(list(checkpoints.NAMES)):
            if outcome.failures:
                return [
                    f"{failure.table}: {failure.description or failure.expectation_type}"
                    for failure in outcome.failures
                ]
        return []


@pytest.fixture(scope="module")
def gates(template, tmp_path_factory) -> Iterator[Gates]:
    # dbt's runner in this process writes the warehouse's settings into os.environ
    # (ecom.dbt_runner.invoke): all of it is put back afterwards, for the tests after
    saved = dict(os.environ)
    os.environ["PGDATABASE"] = COPY
    try:
        yield Gates(tmp_path_factory.mktemp("gates-dbt"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _apply(mutation: Mutation) -> str | None:
    """Apply ``mutation`` to the copy; the constraint's first line when one refuses it."""
    try:
        with db.connection(None, dbname=COPY) as conn, conn.cursor() as cur:
            for statement in mutation.statements:
                cur.execute(statement)
                assert cur.rowcount > 0, f"{mutation.name}: {statement!r} changed no row"
            conn.commit()
    except psycopg2.IntegrityError as error:
        return str(error).splitlines()[0]
    return None


def _verdict(mutation: Mutation, gates: Gates) -> str:
    """How ``mutation`` was caught ('refused: ...', 'dbt: ...', 'gx: ...'), or ''."""
    _copy(COPY)
    refused = _apply(mutation)
    if refused:
        return f"refused: {refused}"
    order = ("dbt", "gx") if mutation.owner == "dbt" else ("gx", "dbt")
    for gate in order:
        failed = getattr(gates, gate)()
        if failed:
            return f"{gate}: {'; '.join(failed[:3])}" + (" ..." if len(failed) > 3 else "")
    return ""


# --------------------------------------------------------------------------- tests


def test_the_untouched_copy_passes_both_gates_as_a_user_runs_them(template, tmp_path):
    _copy(COPY)
    env = {
        **settings.environment(),
        "PGDATABASE": COPY,
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    for command in (["dbt", "test"], ["checkpoint", "run", "--all"]):
        result = subprocess.run(
            [sys.executable, "-m", "ecom", *command],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_every_corruption_on_the_list_fails_a_gate_or_is_refused(gates, capsys):
    # ECOM_TEST_MUTATIONS=text runs only the corruptions whose name contains it
    only = os.environ.get("ECOM_TEST_MUTATIONS", "")
    verdicts = {
        mutation.name: _verdict(mutation, gates) for mutation in MUTATIONS if only in mutation.name
    }
    assert verdicts, f"no corruption's name contains {only!r}"
    caught = sum(1 for verdict in verdicts.values() if verdict)
    with capsys.disabled():
        print(f"\nquality gates: {caught}/{len(verdicts)} corruptions caught")
        for name, verdict in verdicts.items():
            print(
                f"  {'caught' if verdict else 'MISSED'}  {name}  ({verdict or 'both gates passed'})"
            )
    assert [name for name, verdict in verdicts.items() if not verdict] == []
