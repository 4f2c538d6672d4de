"""Building the Spark session: Java check, UTC, quiet logs, driver-friendly defaults."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pipeline.config import default
from pipeline.errors import UserError

log = logging.getLogger(__name__)

MIN_JAVA = 17
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


class JavaMissing(UserError):
    """No usable Java runtime; the message says how to get one."""


def java_version() -> int:
    """The major version of the Java that Spark will use, or JavaMissing."""
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    hint = (
        f"Spark needs Java {MIN_JAVA} or newer: install it (Debian/Ubuntu: "
        "'apt-get install openjdk-17-jre-headless'; macOS: 'brew install openjdk@17') "
        "and put it on PATH or set JAVA_HOME"
    )
    if not java or not os.path.exists(java):
        where = f"JAVA_HOME={java_home} has no bin/java" if java_home else "no 'java' on PATH"
        raise JavaMissing(f"{where}. {hint}")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaMissing(f"'{java} -version' failed ({exc}). {hint}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise JavaMissing(f"cannot tell the version of {java}. {hint}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise JavaMissing(f"{java} is Java {major}. {hint}")
    return major


def class_data_sharing(java_major: int, cache: Path | None = None) -> str:
    """JVM flags for an application class-data archive of Spark's classes (AppCDS).

    Loading and verifying Spark's thousands of classes is most of a cold start.
    The first run writes an archive of the classes it loaded when its JVM exits
    (under a name of its own); a later run promotes a finished one and maps it,
    which measured 20 s -> 11-15 s to the first job on a loaded 2-core machine.
    A missing, stale or broken archive is ignored by the JVM. The archive is
    about 150 MB, in .warehouse/cache; ECOM_SPARK_CDS=0 turns this off.
    """
    from pipeline import settings

    if not settings.current().spark_cds:
        return ""
    import pyspark

    cache = cache or settings.state_dir() / "cache"
    name = f"spark-{pyspark.__version__}-java{java_major}"
    archive = cache / f"{name}.jsa"
    quiet = "-Xlog:cds*=off -Xlog:class+path=off"
    try:
        cache.mkdir(parents=True, exist_ok=True)
        writing = False
        for part in sorted(cache.glob(f"{name}.*.jsa.part")):
            # a JVM writes its part as it exits: untouched for 2 minutes, it is finished
            if time.time() - part.stat().st_mtime < 120:
                writing = True
            elif archive.exists():
                part.unlink()
            else:
                part.replace(archive)
    except OSError as exc:
        log.debug("no class-data archive: %s", exc)
        return ""
    if archive.exists():
        return f"-XX:SharedArchiveFile={archive} {quiet}"
    if writing:
        return ""  # another run is writing one: one writer at a time
    return f"-XX:ArchiveClassesAtExit={cache / f'{name}.{os.getpid()}.jsa.part'} {quiet}"


def build_session(
    master: str = default("spark_master"),
    app_name: str = "ecommerce-ingestion",
    quick_jit: bool = True,
    **conf: str,
):
    """A SparkSession for the ingestion. Extra ``conf`` entries override defaults.

    ``quick_jit``: the driver JVM compiles with C1 only (see below); pass
    False for a workload that runs long enough per row to repay C2.
    """
    java_major = java_version()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Executors must run the same Python as the driver (pyarrow and friends live there).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from pipeline import settings

    values = settings.current()
    defaults = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.streaming.metricsEnabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # A file that vanished between listing and reading was removed on
        # purpose (or archived by us after its batch committed, then replayed).
        "spark.sql.files.ignoreMissingFiles": "true",
        # Smaller input partitions: the sink starts COPYing the first finished
        # ones while Spark still works on the rest of the micro-batch.
        "spark.sql.files.maxPartitionBytes": "8m",
        "spark.driver.memory": values.spark_driver_memory,
        # Quiet the JVM: the job reports failures itself, in one line.
        # TieredStopAtLevel=1: only the quick JIT compiler. Measured (2M rows,
        # bench_ingestion_cpu.py): a quarter less JVM CPU over the whole run
        # (start and first batch: Spark's own code and each query's generated
        # classes are not worth C2's time here), the same per row after that.
        # (Spark's JDBC writer, bench_ingestion.py's baseline b, is slower per
        # row with C1: the baseline keeps the default.)
        "spark.driver.extraJavaOptions": (
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()} "
            f"-Decom.spark.log.level={values.spark_log_level} "
            + ("-XX:TieredStopAtLevel=1 " if quick_jit else "")
            + class_data_sharing(java_major)
        ).strip(),
    }
    defaults.update(conf)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in defaults.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    return spark
