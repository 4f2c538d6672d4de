"""The dashboard's charts and number formats: plotly figures over the marts' rows,
built without a server (the unit tests draw them from plain values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import plotly.graph_objects as go

from dashboard import data

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
