"""The Dash app: KPI tiles and charts over the marts, refreshed every few seconds.

Every element that shows a number has a stable id (``kpi-revenue``,
``chart-funnel``, ...) so that tests and people can point at it. The page is
rebuilt from one ``data.Snapshot`` per refresh; before the first dbt build it
says how to get data instead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import plotly.graph_objects as go
import psycopg2
from dash import Dash, Input, Output, dcc, html, no_update
from dash.development.base_component import Component

from dashboard import data
from dashboard.figures import (
    GRAPH_CONFIG,
    GRAPH_HEIGHT,
    SHORT_TIME,
    conversion_figure,
    count,
    funnel_figure,
    ingestion_figure,
    money,
    percent,
    quarantine_figure,
    revenue_figure,
    utc,
)
from pipeline.db import DatabaseUnavailable
from pipeline.errors import first_line

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"


def tile(kpi_id: str, label: str, value: str, note: str, tone: str = "") -> html.Div:
    return html.Div(
        className=f"tile {tone}".strip(),
        children=[
            html.Div(label, className="tile-label"),
            html.Div(value, id=kpi_id, className="tile-value"),
            html.Div(note, id=f"{kpi_id}-note", className="tile-note"),
        ],
    )


def card(title: str, subtitle: str, body: Component) -> html.Div:
    return html.Div(
        className="card",
        children=[
            html.H2(title),
            html.P(subtitle, className="card-subtitle"),
            body,
        ],
    )


def graph(chart_id: str, figure: go.Figure) -> dcc.Graph:
    # the height is the graph's, the width follows the card
    return dcc.Graph(
        id=chart_id,
        figure=figure,
        config=GRAPH_CONFIG,
        responsive=True,
        style={"height": GRAPH_HEIGHT},
    )


def quality_summary(runs: list[data.CheckpointRun] | None) -> tuple[str, str, str]:
    """(value, note, tone) of the data-quality tile."""
    if runs is None:
        return "unknown", "quality.checkpoint_runs is not readable", "warn"
    if not runs:
        return "not run", "no checkpoint has run yet: make checkpoint", "warn"
    failed = [run for run in runs if not run.success]
    latest = max(run.run_at for run in runs)
    if failed:
        return (
            "FAILED",
            f"{len(failed)} of {len(runs)} checkpoints failed · {utc(latest, SHORT_TIME)}",
            "bad",
        )
    return (
        "passed",
        f"all {len(runs)} checkpoints · {utc(latest, SHORT_TIME)}",
        "good",
    )


def quality_table(snapshot: data.Snapshot) -> html.Table | html.P:
    if snapshot.quality is None:
        return html.P(
            f"Not readable as ecom_analyst: {snapshot.quality_error}", className="empty-note"
        )
    if not snapshot.quality:
        return html.P(
            "No checkpoint has run yet: make checkpoint runs them.", className="empty-note"
        )
    header = html.Tr(
        [html.Th("checkpoint"), html.Th("status"), html.Th("expectations"), html.Th("last run")]
    )
    rows = [
        html.Tr(
            id=f"quality-{run.checkpoint_name}",
            children=[
                html.Td(run.checkpoint_name),
                html.Td(
                    "passed" if run.success else "FAILED",
                    className="badge good" if run.success else "badge bad",
                ),
                html.Td(
                    f"{run.successful_expectations} of {run.evaluated_expectations} passed",
                    id=f"quality-{run.checkpoint_name}-expectations",
                ),
                html.Td(utc(run.run_at)),
            ],
        )
        for run in snapshot.quality
    ]
    return html.Table(
        id="table-quality", className="quality", children=[html.Thead(header), html.Tbody(rows)]
    )


def no_data() -> html.Div:
    return html.Div(
        id="no-data",
        className="no-data",
        children=[
            html.H2("No data yet: run make demo"),
            html.P(
                [
                    "The marts are empty or not built. ",
                    html.Code("make demo"),
                    " builds a complete example in about a minute; for live data run ",
                    html.Code("make stream"),
                    " and ",
                    html.Code("make generate"),
                    ", then ",
                    html.Code("make dbt"),
                    ". This page checks again every refresh.",
                ]
            ),
        ],
    )


def dashboard_body(snapshot: data.Snapshot, top: int) -> html.Div:
    return html.Div(children=[_tiles(snapshot), _charts(snapshot, top)])


def _tiles(snapshot: data.Snapshot) -> html.Div:
    totals = snapshot.totals
    assert totals is not None
    loaded, rejected = snapshot.rows_loaded, snapshot.rows_rejected
    quality_value, quality_note, quality_tone = quality_summary(snapshot.quality)
    session_rate = (
        totals.sessions_purchased / totals.sessions_viewed if totals.sessions_viewed else None
    )
    batches = sum(hour.batches for hour in snapshot.ingestion)
    return html.Div(
        className="tiles",
        children=[
            tile(
                "kpi-revenue",
                "Revenue",
                money(totals.revenue),
                f"over {totals.days} UTC day{'s' if totals.days != 1 else ''}",
            ),
            tile("kpi-orders", "Orders", count(totals.purchases), "purchase events"),
            tile(
                "kpi-conversion",
                "View → purchase",
                percent(totals.view_to_purchase),
                f"purchases / views; sessions: {percent(session_rate, 1)}",
            ),
            tile("kpi-rows-loaded", "Rows loaded", count(loaded), f"in {count(batches)} batches"),
            tile(
                "kpi-rows-quarantined",
                "Rows quarantined",
                count(rejected),
                f"{percent(rejected / (loaded + rejected) if loaded + rejected else None)} "
                "of input rows",
                "warn" if rejected else "",
            ),
            tile("kpi-quality", "Data quality", quality_value, quality_note, quality_tone),
        ],
    )


def _charts(snapshot: data.Snapshot, top: int) -> html.Div:
    totals = snapshot.totals
    threshold = snapshot.conversion_min_views
    return html.Div(
        className="grid",
        children=[
            card(
                f"Revenue by product (top {top})",
                "revenue_by_product: sum of unit price × quantity over purchases",
                graph("chart-revenue-by-product", revenue_figure(snapshot.top_revenue, top)),
            ),
            card(
                "Funnel",
                "fct_funnel_daily: view, add-to-cart and purchase events, all days",
                graph("chart-funnel", funnel_figure(totals)),
            ),
            card(
                f"Best converting products (top {top})",
                f"conversion_rate_by_product: purchases / views, products with ≥ {threshold} views",
                graph(
                    "chart-conversion-by-product",
                    conversion_figure(snapshot.top_conversion, top),
                ),
            ),
            card(
                "Quarantine reasons",
                "fct_quarantine_daily: input lines rejected by the stream, all days",
                graph("chart-quarantine-reasons", quarantine_figure(snapshot.quarantine)),
            ),
            card(
                "Ingestion rate",
                "fct_ingestion_hourly: rows the stream committed per hour",
                graph("chart-ingestion-rate", ingestion_figure(snapshot.ingestion)),
            ),
            card(
                "Data quality",
                "quality.checkpoint_runs: the latest Great Expectations run per checkpoint",
                quality_table(snapshot),
            ),
        ],
    )


# --------------------------------------------------------------------------- the app


def _layout(refresh_seconds: float) -> html.Div:
    """The page: a header with the status line, the body the refresh fills in."""
    refresh_note = (
        f"refreshes every {refresh_seconds:g} s" if refresh_seconds else "refresh off (reload)"
    )
    return html.Div(
        className="page",
        children=[
            html.Header(
                children=[
                    html.H1("E-commerce warehouse"),
                    html.P(
                        [
                            "The dbt marts, read as ",
                            html.Code(data.ROLE_NAME),
                            f"; as fresh as the last dbt build; {refresh_note}.",
                        ],
                        className="subtitle",
                    ),
                    html.P("Loading…", id="status", className="status"),
                ]
            ),
            html.Main(id="body"),
            dcc.Interval(
                id="refresh",
                interval=max(refresh_seconds, 1) * 1000,
                disabled=not refresh_seconds,
            ),
        ],
    )


def create_app(refresh_seconds: float = 10, top: int = 10) -> Dash:
    """The Dash app. ``refresh_seconds`` 0 turns the periodic refresh off."""
    app = Dash(
        __name__,
        title="E-commerce warehouse",
        update_title=None,
        assets_folder=str(ASSETS),
        serve_locally=True,
    )
    app.layout = _layout(refresh_seconds)

    # the last read's error: an outage is logged when it starts and when it ends,
    # not at every refresh (every open page refreshes on its own)
    outage: list[str] = []

    @app.callback(
        Output("body", "children"),
        Output("status", "children"),
        Output("status", "className"),
        Input("refresh", "n_intervals"),
    )
    def refresh(_: int | None):
        now = datetime.now(UTC).strftime("%H:%M:%S UTC")
        try:
            snapshot = data.read_snapshot(top=top)
        except (DatabaseUnavailable, psycopg2.Error) as exc:
            message = first_line(exc)
            if outage != [message]:
                log.warning("cannot read the marts: %s", message)
                outage[:] = [message]
            # the page keeps the last numbers it had, under a red status line
            return no_update, f"{now}: cannot read the warehouse: {message}", "status error"
        if outage:
            log.info("reading the marts again")
            outage.clear()
        if snapshot.is_empty:
            return no_data(), f"checked {now}: no data", "status"
        totals = snapshot.totals
        assert totals is not None
        try:
            body = dashboard_body(snapshot, top)
        except Exception as exc:  # a bug here must not blank the page without a word
            log.exception("cannot draw the dashboard")
            return no_update, f"{now}: cannot draw the dashboard: {exc!r}", "status error"
        return (
            body,
            f"updated {now} · marts built from events staged up to {utc(totals.staged_at)}",
            "status",
        )

    return app
