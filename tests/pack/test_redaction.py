"""Redaction is tested, not assumed (issue 7 item 5): other tenants' names, IPs and extensions and
the Proxmox API token are planted into what the lab serves and the PBX trees hold, the lab is
collected for real, and not one of them may appear anywhere in acme's pack — in any entry, in the
PDF's text and attachments, or inside the base64 payloads of the DSSE envelopes."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from attest.lab.world import LabFirewall, LabIpSet, LabIpSetEntry, LabWorld, demo_world
from tests.cli.test_demo_end_to_end import attest
from tests.pack.test_pack import _entries, _rezip

OTHER = "bellini"
OTHER_VMID = 103
OWN_VMID = 101
PLANTED_IP = "203.0.113.77"
PLANTED_EXTENSION = "880077312"  # long enough never to turn up by chance in a hash


def _token(world: LabWorld) -> str:
    return next(t for t in world.tokens if t.tokenid == "evidence").secret


def _planted_world() -> LabWorld:
    world = demo_world()
    other = next(t for t in world.tenants if t.id == OTHER)
    token = _token(world)
    guests = tuple(
        replace(g, description=f"{other.legal_name}: reception desk {PLANTED_IP}, extension {PLANTED_EXTENSION}, "
                               f"monitoring {token}") if g.vmid == OTHER_VMID
        # acme's own VM: its notes quote the token bare, under no secret-looking key
        else replace(g, description=f"Monitored with the API token {token} (ask ops)") if g.vmid == OWN_VMID
        else g for g in world.guests)
    firewalls = dict(world.guest_firewalls)
    fw = firewalls[OTHER_VMID]
    desk = LabIpSetEntry(f"{PLANTED_IP}/32", f"{other.legal_name} reception, ext {PLANTED_EXTENSION}")
    firewalls[OTHER_VMID] = LabFirewall(options=fw.options, rules=fw.rules, aliases=fw.aliases, ipsets=tuple(
        LabIpSet(s.name, (*s.entries, desk), s.comment) if s.name == "whitelist" else s for s in fw.ipsets))
    return replace(world, guests=guests, guest_firewalls=firewalls)


def _plant_in_pbx_trees(ws: Path, names: dict[str, str], token: str) -> None:
    """The other tenant's PBX gets the planted extension; acme's its token in a comment."""
    other = ws / "pbx" / names[OTHER].removeprefix("pbx-")
    own = ws / "pbx" / names["acme"].removeprefix("pbx-")
    for root, text in ((other, f"exten => {PLANTED_EXTENSION},1,Dial(PJSIP/{PLANTED_EXTENSION})\n"),
                       (own, f"; provisioning token {token}\n")):
        conf = next(root.rglob("extensions_custom.conf"), None) or next(root.rglob("extensions.conf"))
        conf.write_text(conf.read_text() + text)


def _add_site_certificates(config: Path, world: LabWorld) -> None:
    """The demo's made-up documents: every site's certificates and the restore tests."""
    from attest.cli import _signer
    from attest.config import load_config
    from attest.demo import _lab_instances
    from attest.demo_documents import add_demo_documents
    from evidence.log import EvidenceLog

    loaded = load_config(config)
    log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
    try:
        assert add_demo_documents(loaded, log, _signer(loaded), _lab_instances(world)) > 0
    finally:
        log.close()


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from attest.config import load_config
    from attest.lab.server import LabServer
    from attest.workspace import config_document, demo_pbx_names, init_workspace, write_config, write_demo_pbx

    root = tmp_path_factory.mktemp("redaction")
    world = _planted_world()
    lab = LabServer(world, root / "lab")
    lab.start()
    try:
        ws = root / "ws"
        init_workspace(ws)
        write_demo_pbx(ws, world)
        _plant_in_pbx_trees(ws, demo_pbx_names(world), _token(world))
        config = write_config(ws, config_document(world, lab.url, str(lab.ca_path), pbx=True))
        proc = attest("collect", "--config", config, cwd=root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        _add_site_certificates(config, world)
        proc = attest("render", "--tenant", "acme", "--config", config, cwd=root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        packs = {}
        for kind in ("tender", "audit"):
            packs[kind] = root / f"acme-{kind}.zip"
            proc = attest("export", "--tenant", "acme", "--kind", kind, "--out", packs[kind], "--config", config,
                          cwd=root)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        yield load_config(config), world, packs
    finally:
        lab.stop()


def _texts(pack: Path, scratch: Path) -> dict[str, str]:
    """Every readable text in the pack: each entry as UTF-8, each PDF's extracted text and its
    attachments, each DSSE envelope's decoded payload."""
    texts: dict[str, str] = {}
    with zipfile.ZipFile(pack) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist()}
    for name, data in entries.items():
        texts[name] = data.decode("utf-8", "replace")
        if name.endswith(".dsse.json"):
            texts[f"{name} (payload)"] = base64.b64decode(json.loads(data)["payload"]).decode("utf-8", "replace")
        if name.endswith(".pdf"):
            pdf = scratch / Path(name).name
            pdf.write_bytes(data)
            text = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, check=True).stdout
            texts[f"{name} (text)"] = text.decode("utf-8", "replace")
            attached = scratch / f"{pdf.stem}-attachments"
            attached.mkdir()
            subprocess.run(["pdfdetach", "-saveall", "-o", attached, pdf], capture_output=True, check=True)
            for path in sorted(attached.iterdir()):
                texts[f"{name} (attachment {path.name})"] = path.read_text("utf-8", "replace")
    return texts


def test_the_planted_data_reached_the_log_and_the_token_was_redacted(planted) -> None:  # type: ignore[no-untyped-def]
    """The test below could fail: the other tenant's planted data is in the evidence log, and the
    token was stored nowhere (records, artifacts, database)."""
    from evidence.log import EvidenceLog

    loaded, world, _ = planted
    log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)
    try:
        bodies = b"\n".join(r.body for r in log.records())
    finally:
        log.close()
    assert PLANTED_IP.encode() in bodies and PLANTED_EXTENSION.encode() in bodies
    token = _token(world).encode()
    assert token not in bodies
    assert b"Monitored with the API token REDACTED" in bodies
    for path in loaded.evidence_dir.rglob("*"):
        if path.is_file():
            assert token not in path.read_bytes(), path


@pytest.mark.parametrize("kind", ["tender", "audit"])
def test_nothing_planted_appears_anywhere_in_the_pack(planted, kind: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded, world, packs = planted
    texts = _texts(packs[kind], tmp_path)
    if kind == "audit":
        assert any(k.startswith("audit/") and "(text)" in k for k in texts)
    assert any(" (text)" in k for k in texts) and any("(attachment" in k for k in texts)
    assert any("acme" in t.lower() for t in texts.values())  # the pack is about acme, and says so
    forbidden = {PLANTED_IP: "the other tenant's IP", PLANTED_EXTENSION: "the other tenant's extension",
                 _token(world): "the Proxmox API token"}
    for tenant in loaded.model.tenants:
        if tenant.id != "acme":
            forbidden[tenant.legal_name] = f"{tenant.id}'s legal name"
    for name, text in sorted(texts.items()):
        for needle, what in forbidden.items():
            assert needle not in text, f"{what} ({needle!r}) appears in {name}"
        words = {w.strip(".,:;()[]{}\"'/") for w in text.lower().replace("-", " ").split()}
        for tenant in loaded.model.tenants:
            if tenant.id != "acme":
                assert tenant.id not in words, f"tenant id {tenant.id!r} appears in {name}"




def _verify(loaded, pack: Path) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    proc = attest("verify", pack, "--trust", loaded.base / "keys" / "demo-ca.pem", cwd=pack.parent)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def test_the_pack_carries_the_certificates_of_the_sites_acme_uses(planted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """acme runs in mil1 and may move to fra1: their certificates are in the pack, each the file
    its (proven) record names; the office site's are not; altering one is caught by name."""
    loaded, _, packs = planted
    pack = packs["tender"]
    entries = _entries(pack)
    certs = sorted(n for n in entries if n.startswith("certificates/sites/"))
    sites = {n.split("/")[2] for n in certs}
    assert sites and sites <= {s.id for s in loaded.model.sites if s.kind == "datacenter"}, certs
    for name in certs:
        idx = name.split("/")[3].split("-")[0]
        record = json.loads(entries[f"records/{idx}.json"])
        assert record["kind"] == "manual.site_certificate" and record["subject"] == f"site/{name.split('/')[2]}"
        assert hashlib.sha256(entries[name]).hexdigest() in record["artifacts"]
        assert entries[name].startswith(b"%PDF-")
    assert _verify(loaded, pack)[0] == 0
    altered = dict(entries)
    altered[certs[0]] = entries[certs[0]].replace(b"%PDF-", b"%PDF-\n% altered", 1)
    code, text = _verify(loaded, _rezip(altered, tmp_path / "altered.zip"))
    assert code == 1 and certs[0] in text, text


def test_a_certificate_file_missing_from_the_store_refuses_the_export(planted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded, _, packs = planted
    entries = _entries(packs["tender"])
    name = next(n for n in sorted(entries) if n.startswith("certificates/sites/"))
    sha = hashlib.sha256(entries[name]).hexdigest()
    blob = loaded.evidence_dir / "blobs" / sha[:2] / sha[2:]
    moved = tmp_path / "blob"
    shutil.move(blob, moved)
    try:
        out = tmp_path / "again.zip"
        proc = attest("export", "--tenant", "acme", "--kind", "tender", "--out", out,
                      "--config", loaded.base / "attest.yaml", cwd=tmp_path)
        text = " ".join((proc.stdout + proc.stderr).split())
        assert proc.returncode == 2, text
        assert "missing from the evidence store" in text and sha in text
        assert not out.exists() and not list(tmp_path.glob(".again.zip*"))
    finally:
        shutil.move(moved, blob)


@pytest.mark.parametrize("kind", ["tender", "audit"])
def test_each_pack_verifies_on_a_machine_holding_only_the_pack_and_the_ca(planted, kind: str,
                                                                          tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded, _, packs = planted
    shutil.copy(packs[kind], tmp_path / "pack.zip")
    shutil.copy(loaded.base / "keys" / "demo-ca.pem", tmp_path / "CA.pem")
    proc = attest("verify", tmp_path / "pack.zip", "--trust", tmp_path / "CA.pem", cwd=tmp_path)
    text = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 0 and "VALID" in text and "acme" in text, text
