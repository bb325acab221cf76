"""Evidence packs through the installed `attest` command: `attest export` writes a deterministic,
signed ZIP of a tenant's current document and the records it cites; `attest verify PACK.zip`
checks it offline and names the first altered, removed or added file; refusals exit 2 and write
nothing. The workspace is `attest init`'s, with no collection (cheap)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.cli.test_demo_end_to_end import attest

PERIOD = "2026-10"


def _name_a_source_after(ws: Path, tenant: str) -> None:
    """Rename the first dedicated PBX source after *tenant* (pbx-<tenant>, pbx/<tenant>): source ids
    and paths are in the provider-wide configuration record every document cites."""
    cfg = ws / "attest.yaml"
    text = cfg.read_text()
    assert "id: pbx-01\n" in text and "path: pbx/01\n" in text
    cfg.write_text(text.replace("id: pbx-01\n", f"id: pbx-{tenant}\n").replace("path: pbx/01\n",
                                                                              f"path: pbx/{tenant}\n"))
    (ws / "pbx" / "01").rename(ws / "pbx" / tenant)


def _render(ws: Path, tenant: str) -> str:
    proc = attest("render", "--tenant", tenant, "--period", PERIOD, "--as-of", "2026-10-20T12:00:00Z",
                  "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (doc,) = [line for line in proc.stdout.split() if line.startswith("AT-")]
    return doc


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh workspace where acme's and bellini's October were issued; acme's pack exported."""
    root = tmp_path_factory.mktemp("pack")
    ws = root / "ws"
    assert attest("init", ws, cwd=root).returncode == 0  # PBX sources are numbered: pbx-01, pbx/01…
    doc = _render(ws, "acme")
    _render(ws, "bellini")
    return ws, doc


@pytest.fixture(scope="module")
def pack(workspace: tuple[Path, str]) -> Path:
    ws, _ = workspace
    out = ws.parent / "acme.zip"
    code, text = _export(ws, "--tenant", "acme", "--period", PERIOD, "--out", out)
    assert code == 0, text
    return out


def _export(ws: Path, *args: str | Path) -> tuple[int, str]:
    proc = attest("export", *args, "--config", ws / "attest.yaml", cwd=ws)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())  # rich wraps long lines


def _verify(ws: Path, path: Path, cwd: Path | None = None) -> tuple[int, str]:
    proc = attest("verify", path, "--trust", ws / "keys" / "demo-ca.pem", cwd=cwd or path.parent)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _rezip(entries: dict[str, bytes], out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return out


def _pick(entries: dict[str, bytes], kind: str) -> str:
    ends = {"pdf": ".pdf", "html": ".html", "json": ".json", "dsse": ".html.dsse.json"}
    if kind in ends:
        (name,) = [n for n in entries if n.startswith("document/") and n.endswith(ends[kind])
                   and not (kind == "json" and n.endswith(".dsse.json"))]
        return name
    return {"record": sorted(n for n in entries if n.startswith("records/"))[0], "manifest": "MANIFEST.json",
            "manifest-envelope": "MANIFEST.json.dsse.json", "guide": "GUIDE-it.txt",
            "chain": "certificates/provider-chain.pem"}[kind]


def test_export_then_verify(workspace: tuple[Path, str], pack: Path) -> None:
    ws, doc = workspace
    entries = _entries(pack)
    assert sorted(entries) == sorted([
        "GUIDE-en.txt", "GUIDE-it.txt", "MANIFEST.json", "MANIFEST.json.dsse.json", "certificates/provider-chain.pem",
        *(f"document/{doc}{ext}" for ext in (".pdf", ".html", ".json", ".html.dsse.json", ".json.dsse.json")),
        *(n for n in entries if re.fullmatch(r"records/[0-9]+\.json", n))])
    assert any(n.startswith("records/") for n in entries)
    with zipfile.ZipFile(pack) as zf:
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.extra == b""
            assert info.external_attr >> 16 == 0o100644
    code, text = _verify(ws, pack)
    assert code == 0, text
    assert f"VALID {pack}: evidence pack for document {doc} (acme, {PERIOD})" in text
    fingerprint = re.search(r"certificate SHA-256 ([0-9A-F:]{95})", text)
    assert fingerprint and fingerprint.group(1) in entries["GUIDE-en.txt"].decode()
    assert fingerprint.group(1) in entries["GUIDE-it.txt"].decode()
    assert "attest verify PACK.zip --trust CA.pem" in entries["GUIDE-en.txt"].decode()
    # Each record is the stored body whose leaf hash the attestation proves.
    att = json.loads(entries[f"document/{doc}.json"])
    proofs = {p["leaf_index"]: p["leaf_hash"] for p in att["proofs"]}
    records = {int(n[8:-5]): data for n, data in entries.items() if n.startswith("records/")}
    assert set(records) == set(proofs)
    for idx, data in records.items():
        assert hashlib.sha256(b"\x00" + data).hexdigest() == proofs[idx]


def test_same_export_twice_gives_the_same_bytes(workspace: tuple[Path, str], pack: Path) -> None:
    ws, _ = workspace
    again = ws.parent / "again.zip"
    code, text = _export(ws, "--tenant", "acme", "--out", again)  # default period: the newest with a document
    assert code == 0, text
    assert again.read_bytes() == pack.read_bytes()
    again.unlink()


@pytest.mark.parametrize("kind", ["pdf", "html", "json", "dsse", "record", "manifest", "manifest-envelope", "guide",
                                  "chain"])
def test_changing_one_byte_of_any_entry_is_caught_naming_it(workspace: tuple[Path, str], pack: Path,
                                                            tmp_path: Path, kind: str) -> None:
    ws, _ = workspace
    entries = _entries(pack)
    name = _pick(entries, kind)
    data = bytearray(entries[name])
    at = len(data) // 2
    data[at] = data[at] ^ 0x01
    entries[name] = bytes(data)
    code, text = _verify(ws, _rezip(entries, tmp_path / "changed.zip"))
    assert code == 1, text
    assert f"INVALID {tmp_path / 'changed.zip'}: {name}:" in text, text


@pytest.mark.parametrize("kind", ["pdf", "json", "record", "guide", "chain", "manifest"])
def test_removing_an_entry_is_caught_naming_it(workspace: tuple[Path, str], pack: Path, tmp_path: Path,
                                               kind: str) -> None:
    ws, _ = workspace
    entries = _entries(pack)
    name = _pick(entries, kind)
    del entries[name]
    code, text = _verify(ws, _rezip(entries, tmp_path / "fewer.zip"))
    assert code == 1 and f": {name}: " in text, text


@pytest.mark.parametrize("extra", ["notes.txt", "records/999999.json", "document/extra.pdf"])
def test_adding_an_entry_is_caught_naming_it(workspace: tuple[Path, str], pack: Path, tmp_path: Path,
                                             extra: str) -> None:
    ws, _ = workspace
    entries = _entries(pack)
    entries[extra] = b"{}"
    code, text = _verify(ws, _rezip(entries, tmp_path / "more.zip"))
    assert code == 1 and f": {extra}: present in the pack but not listed" in text, text


def test_a_raw_byte_flip_in_the_zip_is_caught(workspace: tuple[Path, str], pack: Path, tmp_path: Path) -> None:
    ws, _ = workspace
    data = bytearray(pack.read_bytes())
    with zipfile.ZipFile(pack) as zf:
        info = zf.getinfo("GUIDE-en.txt")
    data[info.header_offset + 30 + len(info.filename) + 10] ^= 0xFF  # inside the deflated data
    changed = tmp_path / "flipped.zip"
    changed.write_bytes(bytes(data))
    code, text = _verify(ws, changed)
    assert code in (1, 2) and "GUIDE-en.txt" in text, text


def test_unusable_input_exits_2(workspace: tuple[Path, str], pack: Path, tmp_path: Path) -> None:
    ws, _ = workspace
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(pack.read_bytes()[: len(pack.read_bytes()) // 2])
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip at all")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../evil.txt", b"x")
    escaping = tmp_path / "escaping.zip"
    escaping.write_bytes(buffer.getvalue())
    for path, expected in [(truncated, "not a readable ZIP"), (garbage, "not a readable ZIP"),
                           (escaping, "'../evil.txt' is refused")]:
        code, text = _verify(ws, path)
        assert code == 2 and expected in text, (path, text)


def test_verify_offline_with_only_the_ca(workspace: tuple[Path, str], pack: Path,
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    ws, doc = workspace
    alone = tmp_path_factory.mktemp("alone")
    shutil.copy(pack, alone / "pack.zip")
    shutil.copy(ws / "keys" / "demo-ca.pem", alone / "CA.pem")
    proc = attest("verify", "pack.zip", "--trust", "CA.pem", cwd=alone)
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0 and f"document {doc}" in text, text
    # Without the right anchor: valid but not trusted.
    other = tmp_path_factory.mktemp("other")
    assert attest("init", other / "ws", cwd=other).returncode == 0
    proc = attest("verify", alone / "pack.zip", "--trust", other / "ws" / "keys" / "demo-ca.pem", cwd=alone)
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 1 and "valid but signer not trusted" in text, text


def test_the_pack_names_no_other_tenant(workspace: tuple[Path, str], pack: Path) -> None:
    ws, _ = workspace
    tenants = yaml.safe_load((ws / "attest.yaml").read_text())["tenants"]
    others = [(t["id"], t["legal_name"]) for t in tenants if t["id"] != "acme"]
    assert others
    for name, data in _entries(pack).items():
        text = data.decode("utf-8", "replace")
        for tid, legal_name in others:
            assert legal_name not in text, (name, legal_name)
            assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(tid)}(?![A-Za-z0-9])", text), (name, tid)


def test_refusals_exit_2_and_write_nothing(workspace: tuple[Path, str], pack: Path, tmp_path: Path) -> None:
    ws, _ = workspace
    before = pack.read_bytes()
    code, text = _export(ws, "--tenant", "acme", "--out", pack)
    assert code == 2 and "already exists" in text and pack.read_bytes() == before, text
    out = tmp_path / "p.zip"
    for args, expected in [
        (["--tenant", "nobody"], "unknown tenant 'nobody'"),
        (["--tenant", "acme", "--period", "2026-09"], "tenant acme, period 2026-09: no document was issued"),
        (["--tenant", "acme", "--period", "October"], "expected YYYY-MM"),
        (["--tenant", "conti"], "tenant conti: no document was issued"),
        (["--tenant", "acme", "--kind", "sales"], "--kind 'sales'"),
    ]:
        code, text = _export(ws, *args, "--out", out)
        assert code == 2 and expected in text, (args, text)
        assert not out.exists() and list(tmp_path.iterdir()) == [], args
    code, text = _export(ws, "--tenant", "acme", "--out", tmp_path / "missing" / "p.zip")
    assert code == 2 and "does not exist" in text, text


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
def test_an_unwritable_folder_exits_2(workspace: tuple[Path, str], tmp_path: Path) -> None:
    ws, _ = workspace
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        code, text = _export(ws, "--tenant", "acme", "--out", locked / "p.zip")
        assert code == 2 and "cannot write" in text and list(locked.iterdir()) == [], text
    finally:
        locked.chmod(0o755)


def test_a_revoked_document_is_not_packed(workspace: tuple[Path, str], tmp_path: Path) -> None:
    ws, _ = workspace
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    bellini = next((copy / "documents" / "bellini" / PERIOD).glob("*.pdf")).stem
    assert attest("revoke", bellini, "--reason", "Issued with the wrong legal name", "--config",
                  copy / "attest.yaml", cwd=copy).returncode == 0
    out = tmp_path / "b.zip"
    code, text = _export(copy, "--tenant", "bellini", "--period", PERIOD, "--out", out)
    assert code == 2 and f"the newest document {bellini} was revoked" in text and not out.exists(), text
    code, text = _export(copy, "--tenant", "bellini", "--out", out)
    assert code == 2 and "has its newest document revoked" in text and not out.exists(), text


def test_a_record_naming_another_tenant_is_refused(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert attest("init", ws, cwd=tmp_path).returncode == 0
    _name_a_source_after(ws, "bellini")  # a provider naming its sources after customers
    _render(ws, "acme")
    out = tmp_path / "acme.zip"
    code, text = _export(ws, "--tenant", "acme", "--out", out)
    assert code == 2 and "names another tenant" in text and not out.exists(), text
