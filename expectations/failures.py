"""A failed expectation as one line: what was expected, what was observed, and a
sample of the offending values or rows (queried again for failed expectations only)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger("expectations.runner")


@dataclass(frozen=True)
class Failure:
    """One failed expectation."""

    table: str
    column: str | None
    expectation_type: str
    arguments: str  # the expectation's arguments that say what was expected
    observed: str
    description: str | None = None

    def line(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        expectation = self.expectation_type
        if self.arguments:
            expectation += f"({self.arguments})"
        text = f"FAILED {where}: {expectation}: observed {self.observed}"
        if self.description:
            text += f" [{self.description}]"
        return text


_NOT_SHOWN = {"column", "batch_id", "unexpected_rows_query", "result_format", "catch_exceptions"}


def failure(table: str, expectation_result: Any, samples: Samples) -> Failure:
    config = expectation_result.expectation_config
    kwargs = config.kwargs
    arguments = ", ".join(f"{k}={show(v)}" for k, v in kwargs.items() if k not in _NOT_SHOWN)
    result = expectation_result.result
    error = _raised(expectation_result.exception_info or {})
    if error:
        observed = f"an error: {error}"
    elif "unexpected_count" in result:
        observed = f"{result['unexpected_count']} of {result.get('element_count')} rows unexpected"
        examples = samples.values(config.id)
        if examples:
            observed += f", e.g. {', '.join(examples)}"
    elif "unexpected_rows_query" in kwargs:
        count = result.get("observed_value")
        observed = f"{count} unexpected row{'' if count == 1 else 's'}"
        row = samples.row(config.id)
        if row:
            observed += f", e.g. {row}"
    elif (result.get("details") or {}).get("mismatched"):  # columns: unexpected, missing
        mismatched = result["details"]["mismatched"]
        observed = ", ".join(f"{key} {show(value)}" for key, value in mismatched.items() if value)
    else:
        observed = show(result.get("observed_value"))
    return Failure(
        table=table,
        column=kwargs.get("column"),
        expectation_type=config.type,
        arguments=arguments,
        observed=observed,
        description=config.description,
    )


class Samples:
    """Offending values or rows of failed expectations, validated again one by one.

    The checkpoint itself asks for counts only (see context.RESULT_FORMAT), so
    these queries run for failed expectations alone. They illustrate; the
    verdict stands without them, so their errors are only logged.
    """

    def __init__(self, context: Any, table: str, parameters: dict) -> None:
        self._context, self._table, self._parameters = context, table, parameters
        self._batch = None

    def _validate(self, expectation_id: str | None, result_format: Any) -> dict:
        from expectations import context as gx_context

        try:
            suite = self._context.suites.get(self._table)
            expectation = next(e for e in suite.expectations if e.id == expectation_id)
            if self._batch is None:
                self._batch = (
                    self._context.data_sources.get(gx_context.DATASOURCE)
                    .get_asset(self._table)
                    .get_batch_definition(gx_context.BATCH_DEFINITION)
                    .get_batch()
                )
            result = self._batch.validate(
                expectation, result_format=result_format, expectation_parameters=self._parameters
            )
            return result.result or {}
        except Exception as exc:
            log.debug("no sample for a failed expectation on %s: %s", self._table, exc)
            return {}

    def values(self, expectation_id: str | None, limit: int = 3) -> list[str]:
        result = self._validate(
            expectation_id, {"result_format": "SUMMARY", "partial_unexpected_count": limit}
        )
        return list(dict.fromkeys(map(show, result.get("partial_unexpected_list") or [])))

    def row(self, expectation_id: str | None) -> str | None:
        result = self._validate(expectation_id, {"result_format": "COMPLETE"})
        rows = (result.get("details") or {}).get("unexpected_rows") or []
        if not rows:
            return None
        return ", ".join(f"{name}={show(value)}" for name, value in rows[0].items())


def _raised(exception_info: Any) -> str | None:
    infos = (
        exception_info.values() if "raised_exception" not in exception_info else [exception_info]
    )
    for info in infos:
        if isinstance(info, dict) and info.get("raised_exception"):
            message = str(info.get("exception_message") or "").strip()
            return message.splitlines()[0] if message else "an exception"
    return None


def show(value: Any) -> str:
    """A value in a failure line: strings quoted, times in ISO-8601, numbers as they are."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return "[" + ", ".join(show(item) for item in value) + "]"
    return str(value)
