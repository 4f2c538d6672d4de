"""The class-data archive that shortens Spark's cold start: one writer, promoted when finished."""

from __future__ import annotations

import os
import time

import pyspark

from ingestion.spark import class_data_sharing

NAME = f"spark-{pyspark.__version__}-java17"


def test_the_first_run_writes_a_part_of_its_own(tmp_path):
    flags = class_data_sharing(17, tmp_path)
    assert f"-XX:ArchiveClassesAtExit={tmp_path / f'{NAME}.{os.getpid()}.jsa.part'}" in flags
    assert "-Xlog:cds*=off" in flags  # the JVM's archive warnings stay out of the job's output


def test_a_part_being_written_means_no_second_writer(tmp_path):
    (tmp_path / f"{NAME}.1.jsa.part").write_bytes(b"x")
    assert class_data_sharing(17, tmp_path) == ""


def test_a_finished_part_is_promoted_and_used(tmp_path):
    part = tmp_path / f"{NAME}.1.jsa.part"
    part.write_bytes(b"x")
    old = time.time() - 600
    os.utime(part, (old, old))
    flags = class_data_sharing(17, tmp_path)
    assert flags.startswith(f"-XX:SharedArchiveFile={tmp_path / f'{NAME}.jsa'} ")
    assert not part.exists()


def test_leftover_parts_are_removed_once_there_is_an_archive(tmp_path):
    (tmp_path / f"{NAME}.jsa").write_bytes(b"x")
    part = tmp_path / f"{NAME}.2.jsa.part"
    part.write_bytes(b"y")
    old = time.time() - 600
    os.utime(part, (old, old))
    assert "-XX:SharedArchiveFile=" in class_data_sharing(17, tmp_path)
    assert not part.exists()


def test_an_archive_per_spark_and_java_version(tmp_path):
    (tmp_path / f"{NAME}.jsa").write_bytes(b"x")
    assert "ArchiveClassesAtExit" in class_data_sharing(21, tmp_path)


def test_it_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("ECOM_SPARK_CDS", "0")
    assert class_data_sharing(17, tmp_path) == ""
