"""The dashboard, in a real headless Chromium, over a warehouse the pipeline built.

``python -m dashboard`` runs as a subprocess (as ``make dashboard`` runs it)
and reads as ecom_analyst; the numbers on the page are compared with the same
numbers computed here, independently, from staging and raw as the
administrator. The browser is Debian's Chromium driven by Selenium through
Debian's chromedriver, named explicitly so Selenium Manager never downloads.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from pipeline import db, settings
from tests.support.marts import build_warehouse
from tests.support.streaming import REPO_ROOT, query

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DASHBOARD_PORTS = range(8050, 8100)
EMPTY_DATABASE = "ecommerce_dashboard_empty"

KPI_IDS = (
    "kpi-revenue",
    "kpi-orders",
    "kpi-conversion",
    "kpi-rows-loaded",
    "kpi-rows-quarantined",
    "kpi-quality",
)
CHART_IDS = (
    "chart-revenue-by-product",
    "chart-funnel",
    "chart-conversion-by-product",
    "chart-quarantine-reasons",
    "chart-ingestion-rate",
)

# What each chart draws once plotly has rendered it: its SVG, a trace, and marks.
CHARTS_JS = """
return Object.fromEntries(arguments[0].map((id) => {
    const root = document.getElementById(id);
    return [id, root ? {
        svg: root.querySelectorAll('svg.main-svg').length,
        traces: root.querySelectorAll('g.trace').length,
        marks: root.querySelectorAll('g.trace path.surface, g.trace g.point path').length,
        texts: Array.from(root.querySelectorAll('g.trace text')).map((node) => node.textContent),
        labels: Array.from(root.querySelectorAll('g.ytick text')).map((node) => node.textContent),
    } : null];
}));
"""

TEXTS_JS = """
return Object.fromEntries(arguments[0].map((id) => {
    const node = document.getElementById(id);
    return [id, node ? node.textContent : null];
}));
"""


# --------------------------------------------------------------------------- the warehouse


@pytest.fixture(scope="module")
def built(warehouse, tmp_path_factory):
    build_warehouse(tmp_path_factory.mktemp("dashboard-data"), seed=11)


@pytest.fixture()
def empty_database(warehouse, monkeypatch):
    """A database with the warehouse's DDL and grants but no dbt build: no marts."""
    monkeypatch.setenv("PGDATABASE", EMPTY_DATABASE)
    db.ensure_database(EMPTY_DATABASE)
    db.apply_schema()
    yield EMPTY_DATABASE
    monkeypatch.undo()
    with db.connection(None, dbname="postgres") as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"drop database if exists {EMPTY_DATABASE} with (force)")


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    for port in DASHBOARD_PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no free port in {DASHBOARD_PORTS}")


@contextmanager
def dashboard(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``python -m dashboard`` on a free port; yields its URL once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env=env or settings.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the dashboard exited: {process.stdout.read()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "the dashboard did not answer within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.fixture(scope="module")
def dashboard_url(built) -> Iterator[str]:
    with dashboard("--refresh", "2") as url:
        yield url


# --------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not installed ({CHROMIUM}): apt-get install chromium chromium-driver"
        )
    assert CHROMEDRIVER.exists(), f"{CHROMEDRIVER} is missing: apt-get install chromium-driver"
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver's path is given: Selenium Manager is never asked (and never downloads).
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def open_page(driver, url: str, ready_id: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    WebDriverWait(driver, 30).until(
        expected_conditions.presence_of_element_located((By.ID, ready_id))
    )


def wait_for_charts(driver) -> dict:
    """Wait until every chart has drawn its traces; returns what each chart holds."""
    deadline = time.monotonic() + 30
    while True:
        charts = driver.execute_script(CHARTS_JS, list(CHART_IDS))
        if all(chart and chart["svg"] and chart["marks"] for chart in charts.values()):
            return charts
        assert time.monotonic() < deadline, f"charts not drawn within 30 s: {charts}"
        time.sleep(0.25)


def texts(driver, ids) -> dict[str, str | None]:
    return driver.execute_script(TEXTS_JS, list(ids))


def severe_console_entries(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def execute(statement: str, params: tuple = ()) -> list[tuple]:
    """Run one statement as the administrator and commit it."""
    with db.connection(None) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall()
        conn.commit()
        return rows


def number(text: str) -> Decimal:
    return Decimal(text.replace(",", "").rstrip("%"))


# --------------------------------------------------------------------------- tests


def test_page_renders_every_kpi_and_chart(browser, dashboard_url, tmp_path_factory):
    open_page(browser, dashboard_url, "kpi-revenue")
    charts = wait_for_charts(browser)
    for chart_id, chart in charts.items():
        assert chart["svg"] >= 1 and chart["traces"] >= 1 and chart["marks"] >= 1, chart_id
    shown = texts(browser, KPI_IDS)
    assert all(shown.values()), shown
    assert browser.title == "E-commerce warehouse"
    assert browser.find_elements("id", "table-quality")

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, height + 200)  # the window is taller than its viewport
    screenshot = tmp_path_factory.mktemp("dashboard-screenshot") / "dashboard.png"
    assert browser.save_screenshot(str(screenshot))
    print(f"screenshot: {screenshot}")
    browser.set_window_size(1400, 1000)

    assert severe_console_entries(browser) == []


def test_kpis_equal_the_warehouse(browser, dashboard_url):
    open_page(browser, dashboard_url, "kpi-revenue")
    shown = texts(browser, KPI_IDS)
    revenue, orders, views = query(
        "select sum(unit_price * quantity) filter (where event_type = 'purchase'), "
        "count(*) filter (where event_type = 'purchase'), "
        "count(*) filter (where event_type = 'view') "
        "from staging.stg_ecommerce__events"
    )[0]
    loaded = query("select count(*) from raw.ecommerce_events")[0][0]
    quarantined = query("select count(*) from raw.ecommerce_events_rejected")[0][0]
    assert revenue > 0 and orders > 0 and quarantined > 0

    assert number(shown["kpi-revenue"]) == revenue
    assert number(shown["kpi-orders"]) == orders
    assert shown["kpi-conversion"] == f"{100 * orders / views:.2f}%"
    assert number(shown["kpi-rows-loaded"]) == loaded
    assert number(shown["kpi-rows-quarantined"]) == quarantined

    latest = query(
        "select distinct on (checkpoint_name) checkpoint_name, success, "
        "successful_expectations, evaluated_expectations "
        "from quality.checkpoint_runs order by checkpoint_name, run_at desc, run_id desc"
    )
    assert latest and all(success for _, success, _, _ in latest)
    assert shown["kpi-quality"] == "passed"
    rows = texts(browser, [f"quality-{name}-expectations" for name, *_ in latest])
    for name, _, passed, evaluated in latest:
        assert rows[f"quality-{name}-expectations"] == f"{passed} of {evaluated} passed"


def test_charts_show_the_marts(browser, dashboard_url):
    open_page(browser, dashboard_url, "kpi-revenue")
    charts = wait_for_charts(browser)

    # the ten best sellers' revenue, best first, as computed from staging
    top_revenue = query(
        "select sum(unit_price * quantity) from staging.stg_ecommerce__events "
        "where event_type = 'purchase' group by product_id order by 1 desc, product_id limit 10"
    )
    assert len(top_revenue) == 10
    assert charts["chart-revenue-by-product"]["texts"] == [
        f"{amount:,.2f}" for (amount,) in top_revenue
    ]

    views, carts, purchases = query(
        "select count(*) filter (where event_type = 'view'), "
        "count(*) filter (where event_type = 'add_to_cart'), "
        "count(*) filter (where event_type = 'purchase') from staging.stg_ecommerce__events"
    )[0]
    funnel_text = " ".join(charts["chart-funnel"]["texts"]).replace(",", "")
    for value in (views, carts, purchases):
        assert str(value) in funnel_text, (value, funnel_text)

    # every reason, or the 11 most frequent and "other (N reasons)"; bars add up to the lines
    by_reason = query(
        "select reason, count(*) from raw.ecommerce_events_rejected, unnest(reasons) as reason "
        "group by reason"
    )
    ranked = [reason for reason, _ in sorted(by_reason, key=lambda item: (-item[1], item[0]))]
    expected = (
        ranked if len(ranked) <= 12 else [*ranked[:11], f"other ({len(ranked) - 11} reasons)"]
    )
    quarantine = charts["chart-quarantine-reasons"]
    assert len(ranked) >= 5 and set(quarantine["labels"]) == set(expected)
    assert sum(int(text.replace(",", "")) for text in quarantine["texts"]) == sum(
        lines for _, lines in by_reason
    )


def test_a_new_checkpoint_result_shows_without_reloading(browser, dashboard_url):
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(browser, dashboard_url, "kpi-quality")
    assert texts(browser, ["kpi-quality"])["kpi-quality"] == "passed"
    # a failed run, as the auditor would record it, newer than every real one
    (run_id,) = execute(
        "insert into quality.checkpoint_runs (checkpoint_name, success, evaluated_expectations, "
        "successful_expectations, failed_expectations, run_at, duration_seconds) "
        "values ('marts_layer', false, 10, 9, 1, now() + interval '1 minute', 1) "
        "returning run_id"
    )[0]
    try:
        WebDriverWait(browser, 20).until(
            lambda driver: texts(driver, ["kpi-quality"])["kpi-quality"] == "FAILED"
        )
    finally:
        execute("delete from quality.checkpoint_runs where run_id = %s returning run_id", (run_id,))


def test_an_empty_warehouse_says_how_to_get_data(browser, empty_database, tmp_path_factory):
    with dashboard("--refresh", "0", env=settings.environment()) as url:
        open_page(browser, url, "no-data")
        message = texts(browser, ["no-data"])["no-data"]
        assert "No data yet" in message and "make demo" in message
        assert texts(browser, KPI_IDS) == dict.fromkeys(KPI_IDS)
        screenshot = tmp_path_factory.mktemp("dashboard-screenshot") / "dashboard-empty.png"
        assert browser.save_screenshot(str(screenshot))
        print(f"screenshot: {screenshot}")
        assert severe_console_entries(browser) == []


def test_an_unreachable_database_is_one_line(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(closed_port))
    result = subprocess.run(
        [sys.executable, "-m", "dashboard", "--port", str(free_port())],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m dashboard: error: cannot connect")
    assert "make up" in lines[0]
