"""Redaction by value: a configured secret is stored as REDACTED wherever a source put it, under
any key or none, in records and in artifacts (DESIGN.md §3.1, §3.9)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from evidence.log import EvidenceLog, NewRecord
from evidence.scrub import REDACTED, KnownSecrets

TOKEN = "5d1c0f3e-9a7b-4c21-8e55-0b6f2a9d4e17"


def test_values_are_replaced_in_text_json_keys_and_escaped_forms() -> None:
    known = KnownSecrets([TOKEN, "short", 'pa"ss\\wörd-long'])
    assert known.redact_bytes(b"no secret here") == b"no secret here"
    assert known.redact_bytes(f"notes: api token {TOKEN} (do not share)".encode()) == \
        f"notes: api token {REDACTED} (do not share)".encode()
    doc = json.dumps({"description": f"token {TOKEN}", TOKEN: 1, "pw": 'pa"ss\\wörd-long'}).encode()
    out = json.loads(known.redact_bytes(doc))
    assert out == {"description": f"token {REDACTED}", REDACTED: 1, "pw": REDACTED}
    assert known.redact_bytes(b"short and sweet") == b"short and sweet"  # too short to redact by value


def test_the_log_stores_neither_record_nor_artifact_with_a_known_secret(tmp_path: Path, signer) -> None:  # type: ignore[no-untyped-def]
    log = EvidenceLog.open(f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "evidence")
    log.redact_values([TOKEN])
    run = log.begin_run("collect", signer)
    raw = json.dumps({"data": {"description": f"monitoring uses {TOKEN}"}}).encode()
    sha = log.put_artifact(raw, "application/json")
    (rec,) = log.append(run, [NewRecord(source="pve", kind="proxmox.guest", subject="pve/qemu/101",
                                        payload={"notes": f"token is {TOKEN}", "name": "pbx-01"},
                                        collected_at=datetime.now(UTC), artifacts=(sha,))])
    log.finish_run(run, "ok", signer, {})
    assert TOKEN.encode() not in rec.body and REDACTED.encode() in rec.body
    assert rec.payload["name"] == "pbx-01"
    stored = log.get_artifact(sha)
    assert TOKEN.encode() not in stored and REDACTED.encode() in stored
    for path in (tmp_path / "evidence").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN.encode() not in (tmp_path / "log.db").read_bytes()
    assert log.verify().ok
    log.close()
