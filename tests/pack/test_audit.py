"""`attest export --kind audit`: the GDPR audit report (Art. 32 matrix, Art. 28(3) checklist, data
location, sub-processors, 12-period history) in a pack that verifies offline, whose audit files
are signed (pdfsig agrees) and which is byte-identical when built twice. The workspace is
`attest demo`'s (real evidence for every duty), with a second period issued for the history."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.cli.test_demo_end_to_end import attest
from tests.pack.test_pack import _entries, _export, _rezip, _verify

PERIOD, EARLIER = "2026-11", "2026-10"


@pytest.fixture(scope="module")
def audit_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audit")
    proc = attest("demo", "--dir", root / "ws", cwd=root)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    ws = root / "ws"
    cfg = ws / "attest.yaml"
    # The demo's timestamp authority lived only while `attest demo` ran: sign B-B from now on.
    cfg.write_text("".join(line for line in cfg.read_text().splitlines(keepends=True) if "tsa_" not in line))
    proc = attest("render", "--tenant", "acme", "--period", EARLIER, "--config", cfg, cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ws


@pytest.fixture(scope="module")
def audit_pack(audit_ws: Path) -> Path:
    out = audit_ws.parent / "acme-audit.zip"
    code, text = _export(audit_ws, "--tenant", "acme", "--period", PERIOD, "--kind", "audit", "--out", out)
    assert code == 0, text
    return out


def _report(entries: dict[str, bytes]) -> dict:  # type: ignore[type-arg]
    (name,) = [n for n in entries if n.startswith("audit/") and n.endswith(".report.json")]
    return json.loads(entries[name])


def _attestation(entries: dict[str, bytes]) -> dict:  # type: ignore[type-arg]
    (name,) = [n for n in entries if re.fullmatch(r"document/AT-[0-9A-Z]+\.json", n)]
    return json.loads(entries[name])


def test_the_pack_holds_one_signed_audit_report(audit_pack: Path) -> None:
    entries = _entries(audit_pack)
    audit = sorted(n for n in entries if n.startswith("audit/"))
    (rid,) = {n.split("/")[1].split(".")[0] for n in audit}
    assert audit == sorted(f"audit/{rid}{ext}" for ext in (".pdf", ".html", ".report.json", ".html.dsse.json",
                                                           ".report.json.dsse.json"))
    assert json.loads(entries["MANIFEST.json"])["kind"] == "audit"
    assert _report(entries)["report_id"] == rid


def test_art32_matrix_lists_the_mapped_controls_with_the_tenants_verdicts_and_records(audit_pack: Path) -> None:
    entries = _entries(audit_pack)
    att, content = _attestation(entries), _report(entries)["content"]
    verdicts = {r["control_id"]: r["verdict"] for r in att["results"]}
    measures = {m["ref"]: m for m in content["art32"]}
    assert list(measures) == ["Art. 32(1)(a)", "Art. 32(1)(b)", "Art. 32(1)(c)", "Art. 32(1)(d)", "Art. 32(2)"]
    for r in att["results"]:
        for ref in r["mappings"].get("gdpr", []):
            if ref.startswith("Art. 32"):
                (row,) = [c for c in measures[ref]["controls"] if c["control_id"] == r["control_id"]]
                assert row["verdict"] == verdicts[r["control_id"]]
                positions = {p["leaf_hash"]: p["leaf_index"] for p in att["proofs"]}
                assert row["records"] == sorted({positions[h] for h in r["evidence"]})
                assert all(f"records/{n}.json" in entries for n in row["records"]) and row["records"]
    assert "BK-04" in {c["control_id"] for c in measures["Art. 32(1)(d)"]["controls"]}
    assert measures["Art. 32(2)"] == {**measures["Art. 32(2)"], "controls": [], "outcome": "not_covered"}


def test_art28_checklist_says_what_evidence_cannot_show(audit_pack: Path) -> None:
    items = {i["point"]: i for i in _report(_entries(audit_pack))["content"]["art28"]}
    assert list(items) == [f"Art. 28(3)({p})" for p in "abcdefgh"]
    for p in "abeg":
        assert items[f"Art. 28(3)({p})"]["status"] == "not_shown"
        assert "contractual" in items[f"Art. 28(3)({p})"]["text"]["en"]
    c = items["Art. 28(3)(c)"]
    assert c["status"] in ("shown", "partly") and "ISO-01" in c["controls"] and c["records"]
    assert "Art. 32(2)" in c["text"]["en"]  # not covered by any control: never read as met
    assert items["Art. 28(3)(h)"]["status"] == "shown"


def test_data_location_and_subprocessors_come_from_the_tenants_evidence(audit_ws: Path, audit_pack: Path) -> None:
    entries = _entries(audit_pack)
    content = _report(entries)["content"]
    config = yaml.safe_load((audit_ws / "attest.yaml").read_text())
    sites = {s["id"]: s for s in config["sites"]}
    uses = content["location"]["uses"]
    assert content["location"]["status"] == "shown", content["location"]["gaps"]
    assert {u["role"] for u in uses} == {"primary", "ha_target", "backup", "offsite"}
    for u in uses:
        site = sites[u["site_id"]]
        assert (u["name"], u["country"], u["eu_eea"]) == (site["name"], site["country"], True)
        assert u["records"] and all(f"records/{n}.json" in entries for n in u["records"])
    assert {u["site_id"] for u in uses if u["role"] == "primary"} == {"mil1", "fra1"}
    assert {u["site_id"] for u in uses if u["role"] == "backup"} == {"mil1"}
    assert "fra1" in {u["site_id"] for u in uses if u["role"] == "offsite"}
    assert "mil-office" not in {u["site_id"] for u in uses}  # pve4 is not where acme may run
    subs = {s["operator"]: s for s in content["subprocessors"]}
    assert set(subs) == {sites["mil1"]["operator"], sites["fra1"]["operator"]}
    fra = subs[sites["fra1"]["operator"]]
    assert fra["address"] == sites["fra1"]["address"] and fra["country"] == "DE"
    assert [(c["number"], c["expires"]) for c in fra["certifications"]] == [
        (c["number"], c["expires"]) for c in sites["fra1"]["certifications"]]
    text = json.dumps(content, ensure_ascii=False) + entries[next(n for n in entries if n.endswith(".html")
                                                                 and n.startswith("audit/"))].decode()
    for t in config["tenants"]:
        if t["id"] != "acme":
            assert t["legal_name"] not in text
            assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(t['id'])}(?![A-Za-z0-9])", text), t["id"]


def test_history_covers_12_periods_including_ones_without_a_document(audit_ws: Path, audit_pack: Path) -> None:
    history = {h["period"]: h for h in _report(_entries(audit_pack))["content"]["history"]}
    assert len(history) == 12 and min(history) == "2025-12" and max(history) == PERIOD
    earlier = next((audit_ws / "documents" / "acme" / EARLIER).glob("AT-*.pdf")).stem
    assert history[EARLIER]["state"] == "current" and history[EARLIER]["document_id"] == earlier
    assert history[EARLIER]["verdicts"] and history[PERIOD]["verdicts"]["ISO-01"] == "pass"
    assert history["2026-09"] == {**history["2026-09"], "state": "none", "document_id": None, "verdicts": {}}


def test_the_audit_pack_verifies_and_same_input_gives_same_bytes(audit_ws: Path, audit_pack: Path) -> None:
    code, text = _verify(audit_ws, audit_pack)
    assert code == 0 and "VALID" in text, text
    again = audit_ws.parent / "again.zip"
    code, text = _export(audit_ws, "--tenant", "acme", "--period", PERIOD, "--kind", "audit", "--out", again)
    assert code == 0, text
    assert again.read_bytes() == audit_pack.read_bytes()


@pytest.mark.parametrize("suffix", [".pdf", ".html", ".report.json", ".report.json.dsse.json"])
def test_altering_an_audit_file_is_caught_naming_it(audit_ws: Path, audit_pack: Path, tmp_path: Path,
                                                    suffix: str) -> None:
    entries = _entries(audit_pack)
    (name,) = [n for n in entries if n.startswith("audit/") and n.endswith(suffix)
               and not (suffix == ".report.json" and n.endswith(".dsse.json"))]
    data = bytearray(entries[name])
    data[len(data) // 2] ^= 0x01
    entries[name] = bytes(data)
    code, text = _verify(audit_ws, _rezip(entries, tmp_path / "changed.zip"))
    assert code == 1 and f": {name}:" in text, text


def test_removing_the_audit_report_is_caught_naming_it(audit_ws: Path, audit_pack: Path, tmp_path: Path) -> None:
    entries = _entries(audit_pack)
    name = next(n for n in entries if n.endswith(".report.json"))
    del entries[name]
    code, text = _verify(audit_ws, _rezip(entries, tmp_path / "fewer.zip"))
    assert code == 1 and name in text, text


@pytest.mark.skipif(not shutil.which("pdfsig") or not shutil.which("certutil"), reason="poppler-utils/libnss3-tools")
def test_pdfsig_reports_the_audit_pdf_signature_valid(audit_ws: Path, audit_pack: Path, tmp_path: Path) -> None:
    entries = _entries(audit_pack)
    (name,) = [n for n in entries if n.startswith("audit/") and n.endswith(".pdf")]
    pdf = tmp_path / "audit.pdf"
    pdf.write_bytes(entries[name])
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "demo-ca", "-t", "C,C,C", "-i",
                    str(audit_ws / "keys" / "demo-ca.pem")], check=True)
    lines = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True).stdout
    assert "Signature Validation: Signature is Valid." in lines, lines
    assert "Certificate Validation: Certificate is Trusted." in lines, lines
    assert "Total document signed" in lines, lines
