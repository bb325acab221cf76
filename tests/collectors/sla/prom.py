"""A real Prometheus on loopback for the SLA tests, its TSDB filled with known samples.

The samples are written as OpenMetrics, turned into TSDB blocks with
`promtool tsdb create-blocks-from openmetrics` (which needs them in the past, out of the head
block's window: the tests use a fixed month long gone), and served by `prometheus` with no scrape
targets and a retention long enough to keep that month. Debian's package `prometheus` provides
both binaries (`bash scripts/setup.sh --dev` installs it); without them the tests are skipped.
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

READY_WAIT_S = 60.0  # how long a slow machine may take to open the TSDB (not a test assertion)


@dataclass(frozen=True)
class Point:
    """One stored sample: `labels` of its series, Unix seconds, value (NaN allowed)."""

    labels: tuple[tuple[str, str], ...]
    t: float
    value: float


@dataclass
class RunningPrometheus:
    url: str
    version: str
    process: subprocess.Popen[bytes]
    data_dir: Path

    def get(self, path: str, **params: str) -> dict[str, object]:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as reply:
                body: dict[str, object] = json.loads(reply.read())
        except urllib.error.HTTPError as err:
            body = json.loads(err.read())
        return body


def binaries() -> tuple[str, str]:
    """The paths of prometheus and promtool, or skip the test."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if not prometheus or not promtool:
        pytest.skip("prometheus/promtool not installed (apt-get install prometheus; scripts/setup.sh --dev)")
    return prometheus, promtool


def _value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    return repr(float(v)) if v != int(v) else str(int(v))


def _label_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics(metric: str, points: Iterable[Point]) -> str:
    """The points of one gauge metric as an OpenMetrics exposition: series grouped, each in time
    order, ending with `# EOF` as promtool requires."""
    by_series: dict[tuple[tuple[str, str], ...], list[Point]] = {}
    for p in points:
        by_series.setdefault(p.labels, []).append(p)
    lines = [f"# TYPE {metric} gauge"]
    for labels, series in sorted(by_series.items()):
        selector = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels)
        lines += [f"{metric}{{{selector}}} {_value(p.value)} {p.t:.3f}" for p in sorted(series, key=lambda p: p.t)]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"prometheus not ready after {READY_WAIT_S} s: {log.read_text()[-2000:]}")


@contextmanager
def running_prometheus(directory: Path, metric: str, points: Iterable[Point]) -> Iterator[RunningPrometheus]:
    """Fill a TSDB in *directory* with *points* of *metric* and serve it on a free loopback port
    until the context ends."""
    prometheus, promtool = binaries()
    directory.mkdir(parents=True, exist_ok=True)
    source, data, log = directory / "samples.om", directory / "data", directory / "prometheus.log"
    source.write_text(openmetrics(metric, points))
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                   check=True, capture_output=True)
    config = directory / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={data}",
             "--storage.tsdb.retention.time=3650d", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log_file, stderr=subprocess.STDOUT)
    try:
        _wait_ready(url, process, log)
        with urllib.request.urlopen(f"{url}/api/v1/status/buildinfo", timeout=10) as reply:
            version = str(json.loads(reply.read())["data"]["version"])
        yield RunningPrometheus(url, version, process, data)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
