"""The committed GX context (expectations/gx) is what the code defines, and holds no secret."""

from __future__ import annotations

import json
import shutil

import pytest

from expectations import checkpoints, context, suites
from pipeline import settings

pytestmark = pytest.mark.integration


def _committed_files() -> list:
    return [
        path
        for path in context.GX_DIR.rglob("*")
        if path.is_file() and "uncommitted" not in path.relative_to(context.GX_DIR).parts
    ]


def test_the_committed_context_matches_the_code(warehouse):
    assert context.sync(context.open_context(), write=False) == []


def test_the_committed_context_has_one_suite_per_table_and_the_checkpoints():
    suite_files = sorted(
        str(path.relative_to(context.GX_DIR / "expectations").with_suffix("")).replace("/", ".")
        for path in (context.GX_DIR / "expectations").rglob("*.json")
    )
    assert suite_files == sorted(suites.SUITES)
    for spec in checkpoints.CHECKPOINTS:
        stored = json.loads((context.GX_DIR / "checkpoints" / f"{spec.name}.json").read_text())
        assert [d["name"] for d in stored["validation_definitions"]] == list(spec.tables)
        assert [a["type"] for a in stored["actions"]] == ["update_data_docs"]


def test_no_credential_is_committed(warehouse):
    config = (context.GX_DIR / "great_expectations.yml").read_text()
    assert "${ECOM_AUDITOR_PASSWORD}" in config and "analytics_enabled: false" in config
    secrets = [
        value
        for key, value in settings.environment().items()
        if key.endswith("PASSWORD") and len(value) >= 8
    ]
    assert secrets  # the test warehouse has passwords: the check below means something
    for path in _committed_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not any(secret in text for secret in secrets), path


def test_sync_finds_and_repairs_drift(warehouse, tmp_path):
    copy = tmp_path / "gx"
    shutil.copytree(context.GX_DIR, copy, ignore=shutil.ignore_patterns("uncommitted"))
    suite_file = copy / "expectations" / "raw" / "ecommerce_events.json"
    suite = json.loads(suite_file.read_text())
    suite["expectations"] = [
        e for e in suite["expectations"] if e["type"] != "expect_column_values_to_be_in_set"
    ]
    suite_file.write_text(json.dumps(suite, indent=2))
    (copy / "checkpoints" / "marts_layer.json").unlink()

    drifted = context.open_context(copy)
    assert context.sync(drifted, write=False) == [
        "suite raw.ecommerce_events: update",
        "checkpoint marts_layer: add",
    ]
    assert context.sync(drifted) == [
        "suite raw.ecommerce_events: update",
        "checkpoint marts_layer: add",
    ]
    repaired = context.open_context(copy)
    assert context.sync(repaired, write=False) == []
    types = [e["type"] for e in json.loads(suite_file.read_text())["expectations"]]
    assert "expect_column_values_to_be_in_set" in types


def test_a_run_refuses_a_context_that_differs_from_the_code(warehouse, monkeypatch):
    from expectations import runner

    edited = {**suites.SUITES, "raw.ecommerce_events": lambda: suites.raw_ecommerce_events()[1:]}
    monkeypatch.setattr(suites, "SUITES", edited)
    with pytest.raises(runner.CheckpointError) as excinfo:
        list(runner.run(["raw_layer"], record=False))
    message = str(excinfo.value)
    assert "suite raw.ecommerce_events: update" in message
    assert "python -m expectations sync" in message and "\n" not in message
    assert context.sync(context.open_context(), write=False) != []  # nothing was written
