"""The Dash app: KPI tiles and charts over the marts, refreshed every few seconds.

Every element that shows a number has a stable id (``kpi-revenue``,
``chart-funnel``, ...) so that tests and people can point at it. The page is
rebuilt from one ``data.Snapshot`` per refresh; before the first dbt build it
says how to get data instead.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import plotly.graph_objects as go
import psycopg2
from dash import Dash, Input, Output, dcc, html, no_update
from dash.development.base_component import Component

from dashboard import data
from pipeline.db import DatabaseUnavailable
from pipeline.errors import first_line

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"

BLUE = "#2563eb"
RED = "#dc2626"
GREEN = "#16a34a"
GREY = "#64748b"
HOUR_MS = 3_600_000
FUNNEL_COLOURS = ["#93c5fd", "#3b82f6", "#1d4ed8"]
# no toolbar: it covers the top bar; zoom by dragging and double-click to reset still work
GRAPH_CONFIG = {"displayModeBar": False}
GRAPH_HEIGHT = "340px"
SHORT_TIME = "%d %b %H:%M UTC"
MAX_REASONS = 12  # bars in the quarantine chart; more reasons fold into "other"


# --------------------------------------------------------------------------- formatting


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def count(value: int) -> str:
    return f"{value:,}"


def percent(rate: float | Decimal | None, digits: int = 2) -> str:
    return "–" if rate is None else f"{float(rate) * 100:.{digits}f}%"


def utc(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    return "–" if moment is None else moment.astimezone(UTC).strftime(fmt)


def short(name: str, width: int = 32) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


# --------------------------------------------------------------------------- figures


def _figure_layout(figure: go.Figure, **layout) -> go.Figure:
    settings = {
        "template": "plotly_white",
        "margin": {"l": 10, "r": 20, "t": 10, "b": 40},
        "font": {"family": "DejaVu Sans, Helvetica, Arial, sans-serif", "size": 12},
        "uirevision": "keep",  # zoom and hidden traces survive a refresh
        "showlegend": False,
    }
    settings.update(layout)
    figure.update_layout(**settings)
    return figure


def ranked_axis(names: list[str], top: int) -> dict:
    """Rank 0 on top, labelled with the names, room for ``top`` bars however many there are.

    Bars sit at their rank, not at their name: two products may share a name.
    """
    return {
        "range": [max(len(names), top) - 0.5, -0.5],
        "tickmode": "array",
        "tickvals": list(range(len(names))),
        "ticktext": [short(name) for name in names],
        "automargin": True,
    }


def revenue_figure(products: list[data.ProductRevenue], top: int) -> go.Figure:
    figure = go.Figure(
        go.Bar(
            x=[float(product.revenue) for product in products],
            y=list(range(len(products))),
            orientation="h",
            marker_color=BLUE,
            text=[money(product.revenue) for product in products],
            textposition="auto",
            customdata=[
                [product.product_name, product.category, product.orders] for product in products
            ],
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>revenue %{x:,.2f}"
            "<br>%{customdata[2]} orders<extra></extra>",
        )
    )
    return _figure_layout(
        figure,
        yaxis=ranked_axis([product.product_name for product in products], top),
        xaxis={"title": "revenue", "tickformat": ",.0f"},
    )


def funnel_figure(totals: data.Totals) -> go.Figure:
    figure = go.Figure(
        go.Funnel(
            y=["Views", "Add to cart", "Purchases"],
            x=[totals.views, totals.add_to_carts, totals.purchases],
            texttemplate="%{value:,}<br>%{percentInitial:.1%} of views",
            marker={"color": FUNNEL_COLOURS},
            connector={"fillcolor": "#e2e8f0"},
            hovertemplate="%{y}: %{x:,} events<extra></extra>",
        )
    )
    return _figure_layout(figure, margin={"l": 10, "r": 20, "t": 10, "b": 10})


def conversion_figure(products: list[data.ProductConversion], top: int) -> go.Figure:
    figure = go.Figure(
        go.Bar(
            x=[float(product.view_to_purchase_rate or 0) * 100 for product in products],
            y=list(range(len(products))),
            orientation="h",
            marker_color=GREEN,
            text=[
                f"{percent(product.view_to_purchase_rate, 1)}  ({product.purchases}/{product.views})"
                for product in products
            ],
            textposition="auto",
            customdata=[
                [
                    product.product_name,
                    product.views,
                    product.add_to_carts,
                    product.purchases,
                    percent(product.view_to_cart_rate, 1),
                    percent(product.cart_to_purchase_rate, 1),
                ]
                for product in products
            ],
            hovertemplate="%{customdata[0]}<br>%{customdata[1]} views → %{customdata[2]} carts "
            "(%{customdata[4]}) → %{customdata[3]} purchases (%{customdata[5]} of carts)"
            "<extra></extra>",
        )
    )
    return _figure_layout(
        figure,
        yaxis=ranked_axis([product.product_name for product in products], top),
        xaxis={"title": "purchases per 100 views", "ticksuffix": "%"},
    )


def fold_reasons(reasons: list[tuple[str, int]], limit: int) -> list[tuple[str, int]]:
    """The ``limit - 1`` most frequent reasons and "other (N reasons)", or all if they fit."""
    ranked = sorted(reasons, key=lambda item: (-item[1], item[0]))
    if len(ranked) <= limit:
        return ranked
    rest = ranked[limit - 1 :]
    return [*ranked[: limit - 1], (f"other ({len(rest)} reasons)", sum(n for _, n in rest))]


def quarantine_figure(reasons: list[tuple[str, int]]) -> go.Figure:
    shown = fold_reasons(reasons, MAX_REASONS)
    figure = go.Figure(
        go.Bar(
            x=[lines for _, lines in shown],
            y=list(range(len(shown))),
            orientation="h",
            marker_color=RED,
            text=[count(lines) for _, lines in shown],
            textposition="outside",
            cliponaxis=False,
            customdata=[reason for reason, _ in shown],
            hovertemplate="%{customdata}: %{x:,} lines<extra></extra>",
        )
    )
    if not shown:
        figure.add_annotation(
            text="no quarantined lines", showarrow=False, font={"color": GREY, "size": 14}
        )
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
    return _figure_layout(
        figure,
        yaxis=ranked_axis([reason for reason, _ in shown], MAX_REASONS),
        xaxis={"title": "quarantined lines (a line counts once per reason)"},
    )


def ingestion_figure(hours: list[data.IngestionHour]) -> go.Figure:
    x = [hour.committed_hour for hour in hours]
    width = [HOUR_MS * 0.8] * len(hours)
    figure = go.Figure(
        [
            go.Bar(
                name="loaded",
                x=x,
                y=[hour.rows_loaded for hour in hours],
                width=width,
                marker_color=BLUE,
                customdata=[[hour.batches] for hour in hours],
                hovertemplate="%{x|%Y-%m-%d %H:00} UTC<br>%{y:,} rows loaded"
                "<br>%{customdata[0]} batches<extra></extra>",
            ),
            go.Bar(
                name="quarantined",
                x=x,
                y=[hour.rows_rejected for hour in hours],
                width=width,
                marker_color=RED,
                hovertemplate="%{x|%Y-%m-%d %H:00} UTC<br>%{y:,} rows quarantined<extra></extra>",
            ),
        ]
    )
    xaxis: dict = {"type": "date", "title": "hour the batches committed (UTC)"}
    if hours:
        # at least half a day wide, so that one busy hour is a bar, not a wall
        end = max(x) + timedelta(hours=1)
        start = min(min(x) - timedelta(hours=1), end - timedelta(hours=12))
        xaxis["range"] = [start, end]
    return _figure_layout(
        figure,
        barmode="stack",
        showlegend=True,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "traceorder": "normal"},
        margin={"l": 10, "r": 20, "t": 30, "b": 40},
        xaxis=xaxis,
        yaxis={"title": "rows per hour", "tickformat": ",d", "automargin": True},
    )


# --------------------------------------------------------------------------- page parts


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
    totals = snapshot.totals
    assert totals is not None
    loaded, rejected = snapshot.rows_loaded, snapshot.rows_rejected
    quality_value, quality_note, quality_tone = quality_summary(snapshot.quality)
    session_rate = (
        totals.sessions_purchased / totals.sessions_viewed if totals.sessions_viewed else None
    )
    batches = sum(hour.batches for hour in snapshot.ingestion)
    tiles = html.Div(
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
    threshold = snapshot.conversion_min_views
    return html.Div(
        children=[
            tiles,
            html.Div(
                className="grid",
                children=[
                    card(
                        f"Revenue by product (top {top})",
                        "revenue_by_product: sum of unit price × quantity over purchases",
                        graph(
                            "chart-revenue-by-product", revenue_figure(snapshot.top_revenue, top)
                        ),
                    ),
                    card(
                        "Funnel",
                        "fct_funnel_daily: view, add-to-cart and purchase events, all days",
                        graph("chart-funnel", funnel_figure(totals)),
                    ),
                    card(
                        f"Best converting products (top {top})",
                        f"conversion_rate_by_product: purchases / views, products with "
                        f"≥ {threshold} views",
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
            ),
        ]
    )


# --------------------------------------------------------------------------- the app


def create_app(refresh_seconds: float = 10, top: int = 10) -> Dash:
    """The Dash app. ``refresh_seconds`` 0 turns the periodic refresh off."""
    app = Dash(
        __name__,
        title="E-commerce warehouse",
        update_title=None,
        assets_folder=str(ASSETS),
        serve_locally=True,
    )
    refresh_note = (
        f"refreshes every {refresh_seconds:g} s" if refresh_seconds else "refresh off (reload)"
    )
    app.layout = html.Div(
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
