"""ISO-01/02/03 judged from PBX configurations collected into the evidence log (no Proxmox
source here: ISO-01's platform half is then insufficient, its PBX half can still fail)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from attest.attestation import Result, Verdict
from attest.collect import run_collection
from attest.config import LoadedConfig, load_config
from attest.engine import evaluate
from attest.lab.pbx_trees import write_dedicated_tree, write_isolated_tree, write_leaky_tree
from attest.lab.world import demo_world
from attest.period import current_period
from attest.signing import ProviderSigner
from attest.workspace import config_document, init_workspace, write_config
from evidence.log import EvidenceLog


def _signer(ws: LoadedConfig) -> ProviderSigner:
    return ProviderSigner.load(ws.resolve(ws.model.provider.signing.pkcs12_file), ws.signing_password())


def _workspace(tmp_path: Path, db_url: str, *, break_leaky: bool = False) -> LoadedConfig:
    directory = tmp_path / "ws"
    init_workspace(directory)
    write_leaky_tree(directory / "trees" / "shared", {"moretti": (10, 19), "nautilus": (20, 29)})
    write_isolated_tree(directory / "trees" / "split", {"conti": (10, 19), "delta": (20, 29)})
    write_dedicated_tree(directory / "trees" / "acme", {"acme": (100, 119)})
    if break_leaky:  # the dialplan is gone: checks that need it cannot be evaluated
        (directory / "trees" / "shared" / "etc" / "asterisk" / "extensions.conf").unlink()
    doc: dict[str, Any] = config_document(demo_world(), "https://127.0.0.1:9", False)
    doc["database_url"] = db_url
    doc["sources"] = [
        {"id": "pbx-shared", "type": "asterisk", "path": "trees/shared",
         "tenants": {"moretti": {"extensions": "10-19"}, "nautilus": {"extensions": "20-29"}}},
        {"id": "pbx-split", "type": "asterisk", "path": "trees/split",
         "tenants": {"conti": {"extensions": "10-19"}, "delta": {"extensions": ["20-29"]}}},
        {"id": "pbx-acme", "type": "asterisk", "path": "trees/acme", "tenants": {"acme": {"extensions": "100-119"}}},
    ]
    return load_config(write_config(directory, doc))


def _judge(ws: LoadedConfig, log: EvidenceLog, as_of: Any = None) -> dict[str, dict[str, Result]]:
    ev = evaluate(ws, log, _signer(ws), current_period(ws.model.time_zone), as_of)
    return {t: {r.control_id: r for r in results if r.control_id.startswith("ISO")}
            for t, results in ev.results.items()}


@pytest.fixture
def judged(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    ws = _workspace(tmp_path, db_url)
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    assert run_collection(ws, log, _signer(ws)).all_ok
    yield ws, log, _judge(ws, log)
    log.close()


def test_shared_pbx_fails_iso02_and_iso03_for_both_tenants_without_naming_the_other(judged) -> None:  # type: ignore[no-untyped-def]
    _, _, r = judged
    for tenant, other in (("moretti", "nautilus"), ("nautilus", "moretti")):
        assert r[tenant]["ISO-02"].verdict == Verdict.FAIL
        assert r[tenant]["ISO-03"].verdict == Verdict.FAIL
        assert r[tenant]["ISO-01"].verdict == Verdict.FAIL  # the PBX's own INST-01
        iso02 = r[tenant]["ISO-02"]
        assert "called directly" in iso02.reason["en"] and "listened to" in iso02.reason["en"]
        assert "chiamare direttamente" in iso02.reason["it"]
        facts = " ".join(f["en"] + f["it"] for res in r[tenant].values() for f in res.facts)
        assert "DIAL-01" in facts and "extensions.conf:" in facts and "another tenant" in facts
        assert other not in facts.lower() and other not in iso02.reason["en"].lower()


def test_dedicated_and_isolated_pbx_pass(judged) -> None:  # type: ignore[no-untyped-def]
    _, _, r = judged
    assert r["acme"]["ISO-02"].verdict == Verdict.PASS and r["acme"]["ISO-03"].verdict == Verdict.PASS
    for tenant in ("conti", "delta"):  # per-tenant contexts, per-tenant CDR tables: isolated...
        assert r[tenant]["ISO-02"].verdict == Verdict.PASS, r[tenant]["ISO-02"].reason
        assert r[tenant]["ISO-03"].verdict == Verdict.PASS, r[tenant]["ISO-03"].facts
        assert r[tenant]["ISO-01"].verdict == Verdict.FAIL  # ...but one instance serves both: not dedicated
        assert "another customer" in r[tenant]["ISO-01"].reason["en"]


def test_tenant_without_pbx_source_is_insufficient(judged) -> None:  # type: ignore[no-untyped-def]
    _, _, r = judged
    assert r["bellini"]["ISO-02"].verdict == Verdict.INSUFFICIENT_EVIDENCE
    assert "No PBX configuration" in r["bellini"]["ISO-02"].reason["en"]


def test_stale_pbx_evidence_is_insufficient(judged) -> None:  # type: ignore[no-untyped-def]
    ws, log, _ = judged
    later = _judge(ws, log, as_of=None)  # same instant: still fresh
    assert later["acme"]["ISO-02"].verdict == Verdict.PASS
    from attest.period import current_period as cp
    period = cp(ws.model.time_zone)
    as_of = min(period.end, period.as_of() + timedelta(days=3))
    if as_of - period.as_of() < timedelta(hours=37):
        pytest.skip("too close to the end of the month to move the as-of instant 36 h on")
    stale = _judge(ws, log, as_of=as_of)
    assert stale["acme"]["ISO-02"].verdict == Verdict.INSUFFICIENT_EVIDENCE


def test_missing_dialplan_is_insufficient_never_pass(tmp_path: Path, db_url: str) -> None:
    ws = _workspace(tmp_path, db_url, break_leaky=True)
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    try:
        assert run_collection(ws, log, _signer(ws)).all_ok
        r = _judge(ws, log)
        iso02 = r["moretti"]["ISO-02"]
        # pickup groups (PICK-01) need no dialplan and still fail; nothing can pass without one
        assert iso02.verdict in (Verdict.FAIL, Verdict.INSUFFICIENT_EVIDENCE)
        assert r["moretti"]["ISO-02"].verdict != Verdict.PASS
    finally:
        log.close()


def test_no_secret_reaches_the_evidence(judged) -> None:  # type: ignore[no-untyped-def]
    ws, log, _ = judged
    tree = ws.base / "trees" / "shared" / "etc" / "asterisk"
    passwords = [line.split("=", 1)[1].strip() for line in (tree / "pjsip.auth.conf").read_text().splitlines()
                 if line.startswith("password=")]
    assert passwords
    blobs = b"".join(p.read_bytes() for p in ws.evidence_dir.rglob("*") if p.is_file())
    assert not [p for p in passwords if p.encode() in blobs]
    records = " ".join(str(r.payload) for r in log.records())
    assert not [p for p in passwords if p in records]


def test_the_analysis_is_rebuilt_from_the_log_not_the_folder(judged, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws, log, before = judged
    shutil.rmtree(ws.base / "trees")  # the PBX is gone; its collected evidence is not
    after = _judge(ws, log)
    for tenant in ("moretti", "acme", "conti"):
        for cid in ("ISO-02", "ISO-03"):
            assert after[tenant][cid].verdict == before[tenant][cid].verdict


def _pjsip_show_endpoints(names: list[str]) -> str:
    """`pjsip show endpoints` as Asterisk prints it (see tests/collectors/pbx/recorded/)."""
    lines = ["", " Endpoint:  <Endpoint/CID.....................................>  <State.....>  <Channels.>",
             "=" * 90, ""]
    for name in names:
        lines.append(f" Endpoint:  {name + '/' + name:<51}  {'Not in use':<12}  0 of inf")
        lines.append("")
    lines.append(f"Objects found: {len(names)}")
    return "\n".join(lines) + "\n"


def test_running_pbx_that_differs_from_its_files_is_insufficient(tmp_path: Path, db_url: str) -> None:
    ws = _workspace(tmp_path, db_url)
    recorded = ws.base / "trees" / "split" / "asterisk-rx"
    recorded.mkdir()
    # endpoint 99 runs (from a database?) but no file defines it: the files are not the whole truth
    names = [str(n) for n in range(10, 30)] + ["trunk", "99"]
    (recorded / "pjsip_show_endpoints.txt").write_text(_pjsip_show_endpoints(names))
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    try:
        assert run_collection(ws, log, _signer(ws)).all_ok
        r = _judge(ws, log)
        iso02 = r["conti"]["ISO-02"]
        assert iso02.verdict == Verdict.INSUFFICIENT_EVIDENCE
        assert "differs from its configuration files" in iso02.reason["en"]
        assert any("PJSIP/99" in f["en"] for f in iso02.facts)
    finally:
        log.close()


def test_inventory_entry_matching_no_phone_is_insufficient(tmp_path: Path, db_url: str) -> None:
    ws = _workspace(tmp_path, db_url)
    doc = load_config(ws.path)
    raw = doc.model.model_dump(mode="json")
    raw["sources"][2]["tenants"]["acme"] = {"extensions": "500-519"}  # a typo: acme's phones are 100-119
    ws = load_config(write_config(ws.base, {k: v for k, v in raw.items() if v is not None}))
    log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
    try:
        assert run_collection(ws, log, _signer(ws)).all_ok
        r = _judge(ws, log)
        for cid in ("ISO-02", "ISO-03"):
            assert r["acme"][cid].verdict == Verdict.INSUFFICIENT_EVIDENCE
            assert "500-519" in r["acme"][cid].reason["en"]
    finally:
        log.close()


def test_pbx_source_over_ssh_collects_and_judges(tmp_path: Path, db_url: str) -> None:
    """The same shared PBX read through a real sshd (host key pinned, key auth) into the log."""
    from tests.collectors.pbx.sshd import running_sshd

    tree = write_leaky_tree(tmp_path / "remote", {"moretti": (10, 19), "nautilus": (20, 29)})
    directory = tmp_path / "ws"
    init_workspace(directory)
    with running_sshd(tmp_path / "sshd") as srv:
        doc: dict[str, Any] = config_document(demo_world(), "https://127.0.0.1:9", False)
        doc["database_url"] = db_url
        doc["sources"] = [{
            "id": "pbx-remote", "type": "asterisk",
            "ssh": {"host": "127.0.0.1", "port": srv.port, "user": srv.user, "key_file": str(srv.client_key),
                    "host_key_fingerprint": srv.host_fingerprint, "config_dir": str(tree / "etc" / "asterisk"),
                    "cdr_csv": str(tree / "var" / "log" / "asterisk" / "cdr-csv" / "Master.csv")},
            "tenants": {"moretti": {"extensions": "10-19"}, "nautilus": {"extensions": "20-29"}}}]
        ws = load_config(write_config(directory, doc))
        log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
        try:
            assert run_collection(ws, log, _signer(ws)).all_ok
            [record] = log.records(kind="pbx.tree")
            assert record.payload["origin"] == f"ssh://{srv.user}@127.0.0.1:{srv.port}"
            assert record.payload["cdr"] and record.payload["cdr"][0]["rows_read"] > 0
            r = _judge(ws, log)
            assert r["moretti"]["ISO-02"].verdict == Verdict.FAIL
            assert r["nautilus"]["ISO-03"].verdict == Verdict.FAIL
        finally:
            log.close()

    # a pinned key that does not match: the source fails, nothing is judged from it
    doc["sources"][0]["ssh"]["host_key_fingerprint"] = "SHA256:" + "A" * 43
    with running_sshd(tmp_path / "sshd2") as srv2:
        doc["sources"][0]["ssh"]["port"] = srv2.port
        ws = load_config(write_config(directory, doc))
        log = EvidenceLog.open(ws.database_url, ws.evidence_dir)
        try:
            summary = run_collection(ws, log, _signer(ws))
            [src] = summary.sources
            assert src.status == "failed" and "127.0.0.1" in (src.error or "")
        finally:
            log.close()
