"""Prometheus endpoints in tests: a free port, and a scrape parsed by prometheus_client."""

from __future__ import annotations

import random
import socket
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

# Below Linux's ephemeral range (32768-60999): a port the kernel handed out (bind to port 0) can
# be followed by one that an outgoing connection holds, which failed live mode's stream (it serves
# on --metrics-port + 1) in CI.
_LOW, _HIGH = 20000, 32000


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(count: int = 1) -> int:
    """The first of ``count`` consecutive ports that are free on 127.0.0.1 now."""
    for _ in range(200):
        first = random.randrange(_LOW, _HIGH - count)
        if all(_free(first + offset) for offset in range(count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports between {_LOW} and {_HIGH}")


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
