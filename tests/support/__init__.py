"""Shared test support: running the real generator and streaming job (streaming),
loading CSV folders through the real job (ingest), and the independent oracle that
computes the marts from the events in plain Python (marts). Fixtures live in
tests/conftest.py."""
