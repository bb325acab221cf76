"""The provider-wide pack (`attest export --fleet`): the fleet attestation, the datacenter
certificates on record with their inclusion proofs, verifiable offline on a machine holding only
the pack and the provider's CA; any changed, removed or added file is named; no tenant is named
anywhere in it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from attest.lab.world import demo_world
from tests.cli.test_demo_end_to_end import attest
from tests.pack.test_pack import _entries, _rezip
from tests.pack.test_redaction import _add_site_certificates, _texts


@pytest.fixture(scope="module")
def fleet_ws(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from attest.config import load_config
    from attest.lab.server import LabServer
    from attest.workspace import config_document, init_workspace, write_config

    root = tmp_path_factory.mktemp("fleet-pack")
    world = demo_world()
    lab = LabServer(world, root / "lab")
    lab.start()
    try:
        ws = root / "ws"
        init_workspace(ws)
        config = write_config(ws, config_document(world, lab.url, str(lab.ca_path)))
        proc = attest("collect", "--config", config, cwd=root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        _add_site_certificates(config, world)
        proc = attest("render", "--fleet", "--config", config, cwd=root)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = root / "fleet.zip"
        code, text = _export(config, "--fleet", "--out", out)
        assert code == 0, text
        yield load_config(config), out
    finally:
        lab.stop()


def _export(config: Path, *args: str | Path) -> tuple[int, str]:
    proc = attest("export", *args, "--config", config, cwd=config.parent)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def _verify(pack: Path, ca: Path) -> tuple[int, str]:
    proc = attest("verify", pack, "--trust", ca, cwd=pack.parent)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())




def test_verifies_offline_with_only_the_pack_and_the_ca(fleet_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded, pack = fleet_ws
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(pack, bare / "fleet.zip")
    shutil.copy(loaded.base / "keys" / "demo-ca.pem", bare / "CA.pem")
    code, text = _verify(bare / "fleet.zip", bare / "CA.pem")
    assert code == 0, text
    assert "provider-wide" in text and "certificate SHA-256" in text
    # pdfsig, independently of attest, finds the fleet PDF's signature valid
    entries = _entries(pack)
    (pdf_name,) = [n for n in entries if n.startswith("document/") and n.endswith(".pdf")]
    (bare / "fleet.pdf").write_bytes(entries[pdf_name])
    out = subprocess.run(["pdfsig", bare / "fleet.pdf"], capture_output=True, text=True).stdout
    assert "Signature Validation: Signature is Valid." in out, out


def test_holds_the_certificates_on_record_with_proofs_and_names_no_tenant(fleet_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded, pack = fleet_ws
    entries = _entries(pack)
    manifest = json.loads(entries["MANIFEST.json"])
    assert manifest["kind"] == "fleet" and manifest["tenant"] is None
    records = {n: json.loads(d) for n, d in entries.items() if n.startswith("records/")}
    declared = {(s.id, c.number) for s in loaded.model.sites for c in s.certifications}
    assert {(r["subject"].removeprefix("site/"), r["payload"]["reference"]) for r in records.values()} == declared
    certs = [n for n in entries if n.startswith("certificates/sites/")]
    assert len(certs) == len(records)
    proofs = json.loads(entries["proofs.json"])
    assert sorted(p["leaf_index"] for p in proofs["proofs"]) == sorted(int(n[8:-5]) for n in records)
    texts = _texts(pack, tmp_path)
    for name, text in texts.items():
        low = text.lower()
        for tenant in loaded.model.tenants:
            assert tenant.legal_name.lower() not in low, (tenant.id, name)
            words = {w.strip(".,:;()[]{}\"'/") for w in low.replace("-", " ").split()}
            assert tenant.id not in words, (tenant.id, name)


def test_same_input_same_bytes(fleet_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded, pack = fleet_ws
    again = tmp_path / "again.zip"
    code, text = _export(loaded.base / "attest.yaml", "--fleet", "--out", again)
    assert code == 0, text
    assert again.read_bytes() == pack.read_bytes()


@pytest.mark.parametrize("victim", ["record", "certificate", "proofs.json", "document/pdf", "GUIDE-it.txt"])
def test_a_changed_byte_is_named(fleet_ws, victim: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded, pack = fleet_ws
    entries = _entries(pack)
    prefixes = {"record": "records/", "certificate": "certificates/sites/", "document/pdf": "document/"}
    prefix = prefixes.get(victim, victim)
    name = next(n for n in sorted(entries) if n.startswith(prefix) and (victim != "document/pdf" or n.endswith(".pdf")))
    data = bytearray(entries[name])
    data[len(data) // 2] ^= 0x01
    entries[name] = bytes(data)
    code, text = _verify(_rezip(entries, tmp_path / "changed.zip"), loaded.base / "keys" / "demo-ca.pem")
    assert code == 1 and name in text, text


def test_a_removed_or_added_file_is_named(fleet_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded, pack = fleet_ws
    ca = loaded.base / "keys" / "demo-ca.pem"
    entries = _entries(pack)
    name = next(n for n in sorted(entries) if n.startswith("certificates/sites/"))
    removed = {k: v for k, v in entries.items() if k != name}
    code, text = _verify(_rezip(removed, tmp_path / "removed.zip"), ca)
    assert code == 1 and name in text and "removed" in text, text
    added = {**entries, "records/1.json": entries[next(n for n in sorted(entries) if n.startswith("records/"))]}
    code, text = _verify(_rezip(added, tmp_path / "added.zip"), ca)
    assert code == 1 and "records/1.json" in text and "added" in text, text


def test_bad_requests_exit_2_and_write_nothing(fleet_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    loaded, _ = fleet_ws
    config = loaded.base / "attest.yaml"
    out = tmp_path / "x.zip"
    for args, expected in (
        (("--fleet", "--tenant", "acme"), "--tenant T"),
        (("--fleet", "--kind", "audit"), "--kind"),
        ((), "--fleet"),
        (("--fleet", "--period", "2020-01"), "no document was issued"),
        (("--fleet", "--period", "2026-13"), "YYYY-MM"),
    ):
        code, text = _export(config, *args, "--out", out)
        assert code == 2 and expected in text, (args, text)
        assert not out.exists()
    assert not list(tmp_path.iterdir())
