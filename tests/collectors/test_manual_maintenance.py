"""`attest evidence add --kind maintenance-notice`: the notice sent to customers goes into the log
with the window it announces and when it was announced; a window that is missing, reversed, too
long, about an unknown SLA instance or announced in the future is refused (exit 2) and leaves the
log as it was."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from attest.cli import app
from attest.config import load_config
from attest.errors import AttestError
from attest.lab.world import demo_world
from attest.workspace import config_document, init_workspace, write_config
from evidence.log import EvidenceLog

NOW = datetime.now(UTC).replace(microsecond=0)
ANNOUNCED = NOW - timedelta(hours=1)
START = ANNOUNCED + timedelta(hours=72)
END = START + timedelta(hours=2)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    directory = tmp_path / "ws"
    init_workspace(directory)
    doc: dict[str, Any] = config_document(demo_world(), "https://127.0.0.1:9", False)
    instances = {"acme": ["pbx-acme-1", "pbx-acme-2"], "bellini": ["pbx-bellini"]}
    for t in doc["tenants"]:
        t["sla_instances"] = instances.get(t["id"], [])
    write_config(directory, doc)
    return directory


@pytest.fixture
def notice(tmp_path: Path) -> Path:
    path = tmp_path / "notice.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    return path


class Outcome:
    def __init__(self, code: int, stderr: str) -> None:
        self.code, self.stderr = code, stderr


def run(ws: Path, *args: str | Path) -> Outcome:
    """The command in-process, with `attest.cli.main`'s mapping of AttestError to its exit code."""
    result = CliRunner().invoke(app, ["evidence", "add", *map(str, args), "--config", str(ws / "attest.yaml")],
                                env={"COLUMNS": "200"})
    if isinstance(result.exception, AttestError):
        return Outcome(result.exception.exit_code, str(result.exception))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Outcome(result.exit_code, result.stderr + result.stdout)


def records(ws: Path) -> tuple[int, list[Any]]:
    loaded = load_config(ws / "attest.yaml")
    log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
    try:
        return log.size(), list(log.records(kind="manual.maintenance_notice"))
    finally:
        log.close()


def window(start: datetime = START, end: datetime = END, announced: datetime | None = ANNOUNCED) -> list[str]:
    return ["--window-start", iso(start), "--window-end", iso(end)] + (
        ["--announced", iso(announced)] if announced else [])


def test_tenant_notice_covers_all_its_sla_instances(ws: Path, notice: Path) -> None:
    out = run(ws, notice, "--kind", "maintenance-notice", "--subject", "tenant/acme", *window(),
              "--title", "PBX upgrade", "--by", "Mario Rossi")
    assert out.code == 0, out.stderr
    assert "manual.maintenance_notice for tenant/acme" in out.stderr and "72.0 h ahead" in out.stderr
    _, (rec,) = records(ws)
    p = rec.payload
    assert p["window"] == {"start": iso(START), "end": iso(END), "announced_at": iso(ANNOUNCED),
                           "instances": ["pbx-acme-1", "pbx-acme-2"]}
    # the fields every manual record has are still there
    assert p["title"] == "PBX upgrade" and p["added_by"] == "Mario Rossi" and p["document"]["filename"] == "notice.pdf"
    assert {"performed_at", "reference", "note", "added_at"} <= set(p)


def test_instance_notice_with_offsets_defaults_announced_to_now(ws: Path, notice: Path) -> None:
    start = START.astimezone(datetime.strptime("+0100", "%z").tzinfo)
    out = run(ws, notice, "--kind", "maintenance-notice", "--subject", "sla/pbx-bellini",
              "--window-start", start.isoformat(), "--window-end", (start + timedelta(hours=1)).isoformat())
    assert out.code == 0, out.stderr
    _, (rec,) = records(ws)
    w = rec.payload["window"]
    assert w["start"] == iso(START) and w["end"] == iso(START + timedelta(hours=1))
    assert w["instances"] == ["pbx-bellini"] and w["announced_at"] == rec.payload["added_at"]


def test_announced_after_the_start_is_kept_with_a_note(ws: Path, notice: Path) -> None:
    start, end = NOW - timedelta(hours=3), NOW - timedelta(hours=1)
    out = run(ws, notice, "--kind", "maintenance-notice", "--subject", "sla/pbx-acme-1",
              *window(start, end, start + timedelta(minutes=30)))
    assert out.code == 0, out.stderr
    assert "SLA-01 will never exclude it" in out.stderr
    assert len(records(ws)[1]) == 1


@pytest.mark.parametrize(("args", "expected"), [
    (["--kind", "maintenance-notice", "--subject", "tenant/acme"], "needs the window it announces"),
    (["--kind", "maintenance-notice", "--subject", "tenant/acme", "--window-start", iso(START)], "--window-end"),
    (["--kind", "maintenance-notice", "--subject", "tenant/acme", *window(END, START)],
     "not after --window-start"),
    (["--kind", "maintenance-notice", "--subject", "tenant/acme", *window(START, START)],
     "not after --window-start"),
    (["--kind", "maintenance-notice", "--subject", "tenant/acme", *window(START, START + timedelta(days=8))],
     "longer than the 7 days"),
    (["--kind", "maintenance-notice", "--subject", "tenant/acme", "--window-start", "2026-12-05T02:00:00",
      "--window-end", iso(END)], "--window-start '2026-12-05T02:00:00': not an ISO 8601 instant with an offset"),
    (["--kind", "maintenance-notice", "--subject", "tenant/acme", "--window-start", "tomorrow",
      "--window-end", iso(END)], "--window-start 'tomorrow'"),
    (["--kind", "maintenance-notice", "--subject", "sla/pbx-nobody", *window()],
     "no tenant lists 'pbx-nobody' in sla_instances"),
    (["--kind", "maintenance-notice", "--subject", "tenant/conti", *window()], "tenant conti has no sla_instances"),
    (["--kind", "maintenance-notice", "--subject", "tenant/nobody", *window()], "unknown tenant"),
    (["--kind", "maintenance-notice", "--subject", "site/mil1", *window()], "tenant/<id> (all its SLA instances)"),
    (["--kind", "maintenance-notice", "--subject", "tenant/acme", *window(announced=NOW + timedelta(days=1))],
     "in the future"),
    (["--kind", "maintenance-notice", "--subject", "tenant/acme",
      *window(NOW - timedelta(days=2), NOW - timedelta(days=1), NOW - timedelta(hours=1))],
     "after the window ended"),
    (["--kind", "maintenance-notice", "--subject", "tenant/acme",
      *window(NOW - timedelta(days=2), NOW - timedelta(days=1), None)], "give --announced"),
    (["--kind", "document", "--subject", "tenant/acme", *window()], "only for --kind maintenance-notice"),
    (["--kind", "restore-test", "--subject", "tenant/acme", "--performed", "2026-11-01",
      "--announced", iso(ANNOUNCED)], "--announced: only for --kind maintenance-notice"),
])
def test_bad_input_exits_2_and_leaves_the_log_unchanged(ws: Path, notice: Path, args: Sequence[str],
                                                        expected: str) -> None:
    size, _ = records(ws)
    out = run(ws, notice, *args)
    assert out.code == 2, out.stderr
    assert expected in out.stderr
    assert records(ws) == (size, [])
