"""Fake e-commerce events as CSV files, handed to the stream atomically.

``python -m generator`` writes files of events into the inputs folder the
streaming job watches, and one line per file into the manifest, the ground
truth for reconciliation. The pieces, one job each:

- :mod:`generator.catalog`  the products and users, built once with Faker (seeded)
- :mod:`generator.events`   browsing sessions -> CSV lines, with plain ``random``
- :mod:`generator.faults`   malformed rows for fault injection (``--bad-rate``)
- :mod:`generator.files`    file names and the atomic hand-off (tmp + fsync + rename)
- :mod:`generator.manifest` the append-only manifest log and its reader
- :mod:`generator.run`      batch and continuous runs, progress and summary
"""
