"""Streaming a DataFrame's result to the driver as Arrow record batches, as they are made.

``DataFrame.toArrow()`` waits for every partition before it returns. The sink
instead starts its COPY with the first finished partition, so PostgreSQL
works while Spark still parses and validates the rest of the batch. This uses
the same JVM entry point as ``toArrow()`` (``collectAsArrowToPython``) and
reads its socket incrementally; the batches come in the order partitions
finish, which does not matter to an append-only COPY. Those entry points are
internal to PySpark: pyproject.toml pins the minor release this is tested with.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa


def arrow_batches(df) -> Iterator[pa.RecordBatch]:
    """Yield the record batches of ``df``'s result in the order Spark produces them."""
    from pyspark.errors.exceptions.captured import unwrap_spark_exception
    from pyspark.serializers import UTF8Deserializer, read_int
    from pyspark.sql.pandas.serializers import ArrowStreamSerializer
    from pyspark.util import _create_local_socket

    port, secret, server = df._jdf.collectAsArrowToPython()
    sockfile, sock = _create_local_socket((port, secret))
    try:
        yield from ArrowStreamSerializer().load_stream(sockfile)
        # Then the order of the batches (unused), or the JVM's error.
        count = read_int(sockfile)
        if count == -1:
            raise RuntimeError(UTF8Deserializer().loads(sockfile))
        for _ in range(count):
            read_int(sockfile)
    finally:
        sockfile.close()
        sock.close()
        with unwrap_spark_exception():
            server.getResult()
