"""The GX File Data Context in expectations/gx, and keeping it equal to the code.

The context is committed: great_expectations.yml (the PostgreSQL datasource
and one table asset per validated table; a table of the raw layer is read
through the view of the run's window, checkpoints.WINDOWED), the suites (expectations/), the
validation definitions and the checkpoints. Run output (validation results,
Data Docs) goes to expectations/gx/uncommitted/, which git ignores.

The datasource's connection string holds no secret, only placeholders GX
fills in at run time from libpq's variables and the auditor's password,
exactly as psql and dbt read them (pipeline.settings: the environment, then
.env). GX connects as ecom_auditor, the read-only data-quality role.

:func:`sync` writes suites.py and checkpoints.py into the context
(``python -m expectations sync``); when the code has not changed it writes
nothing. The runner compares the two before every run and refuses a context
that differs from the code.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipeline import settings

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.checkpoint import UpdateDataDocsAction  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.exceptions import DataContextError  # noqa: E402

from expectations import checkpoints, suites  # noqa: E402

log = logging.getLogger(__name__)

PACKAGED_GX_DIR = Path(__file__).resolve().parent / "gx"


def _context_dir() -> Path:
    """The checkout's context; installed, a copy under the state folder, since the
    package's folder is no place for run output."""
    if settings.uses_checkout():
        return PACKAGED_GX_DIR
    copy = settings.state_dir() / "gx"
    if copy.exists():
        for entry in copy.iterdir():
            if entry.name != "uncommitted":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(
        PACKAGED_GX_DIR, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns("uncommitted")
    )
    return copy


GX_DIR = _context_dir()
DATASOURCE = "warehouse"
BATCH_DEFINITION = "whole_table"
DATA_DOCS_ACTION = "update_data_docs"
# Counts of unexpected rows, but no sample of them: on a table where all rows
# pass, the query for a sample (LIMIT 20) reads the whole table, once per
# expectation. With a limit of 0 PostgreSQL reads nothing. The runner fetches
# samples for the failed expectations only.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
DATA_DOCS_DIR = "uncommitted/data_docs/local_site/"
# Data Docs: one static site. Its index lists the latest validation results
# only: GX reads every result it lists on each build, so an unbounded index
# slows every run down as history grows. The whole history is in
# quality.checkpoint_runs.
DATA_DOCS_SITES = {
    "local_site": {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": DATA_DOCS_DIR,
        },
        "site_index_builder": {
            "class_name": "DefaultSiteIndexBuilder",
            "validation_results_limit": 50,
        },
    }
}
AUDITOR = settings.ROLE_DEFAULT_NAMES["auditor"]
# host and port as query parameters: PGHOST may be a Unix socket folder. options:
# settings of GX's sessions (libpq's "-c name=value ..."), such as the raw_layer
# checkpoint's window (expectations/runner.py).
CONNECTION_STRING = (
    f"postgresql+psycopg2://{AUDITOR}:${{ECOM_AUDITOR_PASSWORD}}@/${{PGDATABASE}}"
    "?host=${PGHOST}&port=${PGPORT}&connect_timeout=5"
    "&application_name=ecommerce-stream-warehouse-gx&options=${ECOM_GX_SESSION_SETTINGS}"
)


def connection_environment(session_settings: dict[str, str] | None = None) -> dict[str, str]:
    """The values of the connection string's placeholders, from pipeline.settings, and
    ``session_settings`` for GX's sessions."""
    auditor = settings.connection("auditor")
    options = " ".join(f"-c {name}={value}" for name, value in (session_settings or {}).items())
    return {
        "PGHOST": quote(auditor.host, safe="/"),
        "PGPORT": str(auditor.port),
        "PGDATABASE": quote(auditor.dbname, safe=""),
        "ECOM_AUDITOR_PASSWORD": quote(auditor.password or "", safe=""),
        "ECOM_GX_SESSION_SETTINGS": quote(options, safe=""),
    }


def open_context(gx_dir: Path = GX_DIR, session_settings: dict[str, str] | None = None):
    """The File Data Context in ``gx_dir`` (the committed one), connection from the
    settings, with ``session_settings`` (values without spaces) set in its sessions."""
    # project_root_dir: GX finds the context in <root>/gx (and would scaffold one there).
    if gx_dir.name != "gx":
        raise ValueError(f"a GX context folder is called gx, not {gx_dir.name}")
    try:
        runtime_environment = connection_environment(session_settings)
    except settings.SettingsError:  # comparing definitions (sync --check) needs no database
        runtime_environment = {}
    return gx.get_context(
        mode="file", project_root_dir=gx_dir.parent, runtime_environment=runtime_environment
    )


def _normalized(expectation: Any) -> dict:
    """An expectation as stored, without the id GX assigns."""
    config = expectation.configuration.to_json_dict()
    config.pop("id", None)
    config.pop("rendered_content", None)
    return config


def sync(context, *, write: bool = True) -> list[str]:
    """Make the context hold exactly what suites.py and checkpoints.py define.

    Returns one line per difference found (and, with ``write``, fixed).
    Unchanged objects are not rewritten, so their ids and files stay put.
    Adding a table asset makes GX test it, which needs the database.
    """
    changes: list[str] = []

    def change(message: str) -> bool:
        changes.append(message)
        return write

    _sync_variables(context, change)
    datasource, readded = _sync_datasource(context, change)
    if datasource is None:  # dry run without the datasource: nothing below can be compared
        return changes
    _sync_suites(context, change)
    _sync_validation_definitions(context, change, datasource, readded)
    _sync_checkpoints(context, change)
    return changes


def _sync_variables(context, change) -> None:
    """No analytics, no progress bars, the project's Data Docs site."""
    variables = context.variables
    if variables.analytics_enabled is not False and change("analytics: off"):
        variables.analytics_enabled = False
        variables.save()
    bars = dict(variables.progress_bars or {})
    if bars != {"globally": False, "metric_calculations": False} and change("progress bars: off"):
        variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        variables.save()

    if variables.data_docs_sites != DATA_DOCS_SITES and change("data docs site"):
        variables.data_docs_sites = DATA_DOCS_SITES
        variables.save()


def _sync_suites(context, change) -> None:
    expected_suites = {name: suites.build_suite(name) for name in suites.SUITES}
    for suite in context.suites.all():
        if suite.name not in expected_suites and change(f"suite {suite.name}: delete"):
            context.suites.delete(suite.name)
    for name, suite in expected_suites.items():
        try:
            stored = context.suites.get(name)
        except DataContextError:
            stored = None
        if stored is None:
            if change(f"suite {name}: add"):
                context.suites.add(suite)
        elif [_normalized(e) for e in stored.expectations] != [
            _normalized(e) for e in suite.expectations
        ] and change(f"suite {name}: update"):
            context.suites.add_or_update(suite)


def _sync_validation_definitions(context, change, datasource, readded: set) -> None:
    """One validation definition per validated table: its suite on its whole-table asset."""
    tables = checkpoints.all_tables()
    for definition in context.validation_definitions.all():
        if definition.name not in tables and change(
            f"validation definition {definition.name}: delete"
        ):
            context.validation_definitions.delete(definition.name)
    for table in tables:
        try:
            stored = context.validation_definitions.get(table)
            current = (stored.suite.name, stored.data.data_asset.name, stored.data.name)
        except DataContextError:
            current = None
        if table in readded and current is not None:  # it names the old asset's ids
            current = (table, "(re-added)", BATCH_DEFINITION)
        if current != (table, table, BATCH_DEFINITION) and change(
            f"validation definition {table}: {'add' if current is None else 'update'}"
        ):
            batch_definition = datasource.get_asset(table).get_batch_definition(BATCH_DEFINITION)
            context.validation_definitions.add_or_update(
                gx.ValidationDefinition(
                    name=table, data=batch_definition, suite=context.suites.get(table)
                )
            )


def _sync_checkpoints(context, change) -> None:
    for checkpoint in context.checkpoints.all():
        if checkpoint.name not in checkpoints.NAMES and change(
            f"checkpoint {checkpoint.name}: delete"
        ):
            context.checkpoints.delete(checkpoint.name)
    for spec in checkpoints.CHECKPOINTS:
        try:
            stored = context.checkpoints.get(spec.name)
            current = (
                [definition.name for definition in stored.validation_definitions],
                [(action.type, action.name) for action in stored.actions],
                stored.result_format,
            )
        except DataContextError:
            current = None
        expected = (list(spec.tables), [("update_data_docs", DATA_DOCS_ACTION)], RESULT_FORMAT)
        if current != expected and change(
            f"checkpoint {spec.name}: {'add' if current is None else 'update'}"
        ):
            context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=spec.name,
                    validation_definitions=[
                        context.validation_definitions.get(table) for table in spec.tables
                    ],
                    actions=[UpdateDataDocsAction(name=DATA_DOCS_ACTION)],
                    result_format=RESULT_FORMAT,
                )
            )


def _sync_datasource(context, change):
    """The datasource and one whole-table asset per validated table, and the tables
    whose asset was added again."""
    try:
        datasource = context.data_sources.get(DATASOURCE)
    except (KeyError, ValueError, DataContextError):
        datasource = None
    if datasource is None:
        if not change(f"datasource {DATASOURCE}: add"):
            return None, set()
        datasource = context.data_sources.add_postgres(
            name=DATASOURCE, connection_string=CONNECTION_STRING
        )
    elif str(datasource.connection_string) != CONNECTION_STRING and change(
        f"datasource {DATASOURCE}: connection string"
    ):
        datasource = context.data_sources.add_or_update_postgres(
            name=DATASOURCE,
            connection_string=CONNECTION_STRING,
            assets=datasource.assets,
        )
    tables = checkpoints.all_tables()
    readded: set[str] = set()
    for asset in list(datasource.assets):
        if asset.name not in tables and change(f"table asset {asset.name}: delete"):
            datasource.delete_asset(asset.name)
    for table in tables:
        schema_name, table_name = checkpoints.relation(table).split(".")
        try:
            asset = datasource.get_asset(table)
            where = (asset.schema_name, asset.table_name)
        except LookupError:
            asset, where = None, None
        if where != (schema_name, table_name) and change(
            f"table asset {table}: {'add' if asset is None else 'update'}"
        ):
            if asset is not None:
                datasource.delete_asset(table)
            asset = datasource.add_table_asset(
                name=table, schema_name=schema_name, table_name=table_name
            )
            readded.add(table)
        has_definition = asset is not None and BATCH_DEFINITION in [
            definition.name for definition in asset.batch_definitions
        ]
        if (
            asset is not None
            and not has_definition
            and change(f"table asset {table}: batch definition {BATCH_DEFINITION}")
        ):
            asset.add_batch_definition_whole_table(BATCH_DEFINITION)
            readded.add(table)
    return datasource, readded
