"""One line from an error, whatever its message: empty, blank lines first, several lines."""

from __future__ import annotations

from types import SimpleNamespace

import psycopg2

from ecom.dbt_runner import failure_line
from pipeline.errors import first_line


def test_first_line_of_a_multi_line_message():
    assert first_line(RuntimeError("\n\n  relation does not exist\nLINE 1: ...")) == (
        "relation does not exist"
    )


def test_an_empty_message_gives_the_type_or_the_default():
    assert first_line(psycopg2.OperationalError()) == "OperationalError"
    assert first_line(RuntimeError(""), "no message") == "no message"
    assert first_line(None, "none") == first_line("", "none") == "none"


def test_a_failed_dbt_node_without_a_message_is_still_one_line():
    """live mode raised IndexError here on a failed node whose message was empty."""
    failed = SimpleNamespace(node=SimpleNamespace(name="fct_funnel_daily"), message="")
    assert failure_line(failed) == "fct_funnel_daily: failed, without a message"
    failed.message = "Database Error in model fct_funnel_daily\n  division by zero"
    assert failure_line(failed) == "fct_funnel_daily: Database Error in model fct_funnel_daily"
