"""A Spark session on local[2] for each test module (the spark-scan command test stops its session)."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark", reason="pyspark is installed by `make` (the dev extra)")
    if shutil.which("java") is None:
        pytest.fail("Spark tests need a Java runtime (Java 17): apt-get install -y openjdk-17-jre-headless")
    from cloudward import spark as job

    # a JVM that starts quickly (no optimizing compiler, serial GC): these jobs are tiny
    os.environ.setdefault("JDK_JAVA_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    session = job.session("local[2]")
    yield session
    session.stop()
