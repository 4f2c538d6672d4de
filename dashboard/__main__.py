"""python -m dashboard: serve the warehouse dashboard on a local port."""

from __future__ import annotations

import logging
import signal
import socket
from types import SimpleNamespace

import click

from dashboard import data
from pipeline import cli
from pipeline.errors import UserError

log = logging.getLogger("dashboard")

PROG = "python -m dashboard"

DESCRIPTION = """\
A local web dashboard over the dbt marts: revenue, orders, conversion, rows
loaded and quarantined, the latest data-quality status; revenue and
conversion by product, the funnel, quarantine reasons, the ingestion rate
and the Great Expectations results. It reads as the read-only role
ecom_analyst (marts and quality.checkpoint_runs only) and refreshes itself,
so it follows a live stream as far as the last dbt build.
"""

EPILOG = """\
examples:
  {prog}                              http://127.0.0.1:8050, refresh every 10 s
  {prog} --port 8060 --refresh 30
  {prog} --host 0.0.0.0               listen on every interface (mind who can reach it)
  make dashboard DASHBOARD_ARGS="--port 8060"

Settings: PGHOST, PGPORT, PGDATABASE and ECOM_ANALYST_PASSWORD, from the
environment, then .env (written by 'make up'; see .env.example).
exit status: 0 stopped with Ctrl-C or SIGTERM, 2 setup error (database
unreachable, port taken), in one line. Once running, an unreachable database
shows as a red status line on the page; the numbers come back with it.
"""


class DashboardError(UserError):
    """The dashboard cannot start; the message says why and what to do."""


def _check_port_free(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DashboardError(f"cannot listen on {host!r}: {exc.strerror}") from exc
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise DashboardError(
                f"cannot listen on {host}:{port}: {exc.strerror}; pick another port with "
                f"--port (make dashboard DASHBOARD_ARGS='--port {port + 1}')"
            ) from exc


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # the server stops as on Ctrl-C: exit 0


@click.command(cls=cli.Command, help=cli.verbatim(DESCRIPTION), epilog=cli.verbatim(EPILOG))
@click.option("--host", default="127.0.0.1", help="address to listen on")
@click.option("--port", type=cli.port, default=8050, help="port to listen on")
@click.option(
    "--refresh",
    type=cli.seconds,
    default=10.0,
    help="read the marts again every SECONDS; 0 turns it off",
)
@click.option("--top", type=cli.positive_int, default=10, help="products in the by-product charts")
@cli.verbose_option()
def main(**options) -> int:
    args = SimpleNamespace(**options)
    cli.configure_logging(args.verbose)
    who = data.check_connection()
    _check_port_free(args.host, args.port)

    from dashboard.app import create_app  # Dash and plotly load in about a second

    app = create_app(refresh_seconds=args.refresh, top=args.top)
    # A line per request every refresh is noise, and Dash's "running on" repeats
    # ours (Dash sets its logger's level when the app is made); warnings still show.
    for noisy in ("werkzeug", "dash.dash"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    print(
        f"dashboard: http://{args.host}:{args.port}/  (reading the marts as {who}; Ctrl-C stops)",
        flush=True,
    )
    # load_dotenv=False: settings come from pipeline.settings, not from Flask reading .env
    signal.signal(signal.SIGTERM, _stop)
    import flask.cli

    flask.cli.show_server_banner = lambda *args, **kwargs: None  # the line above says it all
    app.run(
        host=args.host,
        port=args.port,
        debug=False,
        dev_tools_disable_version_check=True,  # offline: never ask plotly.com
        load_dotenv=False,
    )
    return 0


if __name__ == "__main__":
    cli.run(main, PROG)
