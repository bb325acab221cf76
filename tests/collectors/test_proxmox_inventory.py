"""The Proxmox VE inventory collector against the simulated API over real HTTPS (proxmoxer and
requests unpatched): what it records, and how each kind of failure is recorded."""

from __future__ import annotations

from pathlib import Path

from attest.collect import run_collection
from attest.lab.world import demo_world
from attest.signing import ProviderSigner
from evidence.log import EvidenceLog


def _open(ws) -> EvidenceLog:  # type: ignore[no-untyped-def]
    return EvidenceLog.open(ws.database_url, ws.evidence_dir)


def _signer(ws) -> ProviderSigner:  # type: ignore[no-untyped-def]
    return ProviderSigner.load(ws.resolve(ws.model.provider.signing.pkcs12_file), ws.signing_password())


def test_collects_one_record_per_guest_and_pool(workspace) -> None:  # type: ignore[no-untyped-def]
    log = _open(workspace)
    summary = run_collection(workspace, log, _signer(workspace))
    assert summary.status == "ok" and summary.all_ok
    world = demo_world()
    guests = {r.subject: r.payload for r in log.records(kind="proxmox.guest")}
    assert set(guests) == {f"pve-main/{g.type}/{g.vmid}" for g in world.guests}
    shared = guests["pve-main/qemu/120"]
    assert shared["tags"] == ["pbx", "t-moretti", "t-nautilus"]
    assert shared["site"] == "mil1" and shared["nics"]["net0"]["firewall"] == "1"
    assert guests["pve-main/lxc/106"]["pool"] == "esposito"
    pools = {r.payload["poolid"]: r.payload["members"] for r in log.records(kind="proxmox.pool")}
    assert pools["acme"] == ["qemu/101", "qemu/102"]
    inventory = next(log.records(kind="proxmox.inventory")).payload
    assert len(inventory["guests"]) == len(world.guests) == len(inventory["configs_read"])
    # every record cites the raw responses it came from, and they are stored
    for rec in log.records(kind="proxmox.guest"):
        for sha in rec.data["artifacts"]:
            assert log.get_artifact(sha)
    assert log.verify().ok
    log.close()


def test_token_secret_never_reaches_the_evidence(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = _open(workspace)
    run_collection(workspace, log, _signer(workspace))
    secret = workspace.source_secret(workspace.model.sources[0]).encode()
    assert all(secret not in r.body for r in log.records())
    for blob in (workspace.evidence_dir / "blobs").rglob("*"):
        if blob.is_file():
            assert secret not in blob.read_bytes()
    db = Path(workspace.database_url.removeprefix("sqlite:///"))
    assert secret not in db.read_bytes()
    log.close()


def test_a_200_that_is_not_json_fails_the_source_and_keeps_earlier_records(lab_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_workspace

    lab = lab_factory(not_json_paths=["/cluster/resources"])
    ws = make_workspace(tmp_path / "ws", lab.url, lab.ca_path)
    log = _open(ws)
    summary = run_collection(ws, log, _signer(ws))
    [src] = summary.sources
    assert summary.status == "partial" and not src.ok
    assert "cluster/resources" in (src.error or "") and "not JSON" in (src.error or "")
    kinds = {r.kind for r in log.records()}
    assert {"proxmox.version", "proxmox.cluster", "proxmox.permissions"} <= kinds
    assert "proxmox.inventory" not in kinds
    [outcome] = log.source_outcomes("pve-main")
    assert outcome.status == "failed" and outcome.records == src.records > 0
    log.close()


def test_wrong_token_is_a_failed_source_naming_the_http_status(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_workspace

    ws = make_workspace(tmp_path / "ws", lab.url, lab.ca_path)
    (ws.base / "secrets" / "pve-main.token").write_text("00000000-0000-0000-0000-000000000000\n")
    log = _open(ws)
    summary = run_collection(ws, log, _signer(ws))
    assert not summary.all_ok and "HTTP 401" in (summary.sources[0].error or "")
    assert "00000000-0000" not in (summary.sources[0].error or "")
    log.close()


def test_untrusted_tls_certificate_is_refused(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from attest.config import load_config
    from attest.workspace import config_document, init_workspace, write_config

    init_workspace(tmp_path / "ws")
    ws = load_config(write_config(tmp_path / "ws", config_document(demo_world(), lab.url, True)))
    log = _open(ws)
    summary = run_collection(ws, log, _signer(ws))
    assert "TLS verification failed" in (summary.sources[0].error or "")
    log.close()


def test_timeout_is_a_failed_source(lab_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from attest.config import load_config
    from attest.workspace import config_document, init_workspace, write_config

    lab = lab_factory(slow_paths={"/cluster/status": 3.0})
    init_workspace(tmp_path / "ws")
    doc = config_document(demo_world(), lab.url, str(lab.ca_path))
    doc["sources"][0]["timeout_s"] = 0.5
    ws = load_config(write_config(tmp_path / "ws", doc))
    log = _open(ws)
    summary = run_collection(ws, log, _signer(ws))
    assert "timed out" in (summary.sources[0].error or "")
    log.close()


def test_one_dead_source_does_not_stop_the_others(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import socket

    from attest.config import load_config
    from attest.workspace import config_document, init_workspace, write_config

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    init_workspace(tmp_path / "ws")
    doc = config_document(demo_world(), lab.url, str(lab.ca_path))
    dead = dict(doc["sources"][0], id="pve-dead", url=f"https://127.0.0.1:{dead_port}")
    doc["sources"] = [dead, doc["sources"][0]]  # the dead one first
    ws = load_config(write_config(tmp_path / "ws", doc))
    log = _open(ws)
    summary = run_collection(ws, log, _signer(ws))
    by_id = {s.source_id: s for s in summary.sources}
    assert summary.status == "partial"
    assert not by_id["pve-dead"].ok and "connection failed" in (by_id["pve-dead"].error or "")
    assert by_id["pve-main"].ok and by_id["pve-main"].records > 15
    assert log.verify().ok
    log.close()


def _collector(lab, **overrides):  # type: ignore[no-untyped-def]
    from collectors.proxmox.collector import ProxmoxCollector

    token = next(t for t in demo_world().tokens if t.tokenid == "evidence")
    settings = {"verify_tls": str(lab.ca_path), "timeout_s": 5.0, "concurrency": 4} | overrides
    return ProxmoxCollector("pve-main", lab.url.removeprefix("https://"), token.userid, token.tokenid, token.secret,
                            **settings)


def test_pool_members_come_from_the_guest_list_with_no_call_per_pool(lab) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    from collectors.base import Emitter

    collector = _collector(lab, sections=("cluster", "inventory"))
    out = Emitter("pve-main", lambda data, media: hashlib.sha256(data).hexdigest())
    collector.collect(out)
    assert collector.calls["/pools"] == 1  # the index only: no /pools?poolid= per pool
    pools = {r.payload["poolid"]: r for r in out.records if r.kind == "proxmox.pool"}
    world = demo_world()
    assert set(pools) == set(world.pools)
    for pool_id, rec in pools.items():
        assert rec.payload["members"] == sorted(f"{g.type}/{g.vmid}" for g in world.guests if g.pool == pool_id)
        assert len(rec.artifacts) == 2  # the pool index and the guest list it rests on
    assert pools["acme"].payload["members"] == ["qemu/101", "qemu/102"]
    assert pools["moretti"].payload["members"] == []  # the shared PBX sits in no pool


def test_a_connection_reset_is_named_and_fails_the_source(tmp_path: Path) -> None:
    import socket
    import threading

    from collectors.base import Emitter, SourceFailed
    from collectors.proxmox.collector import ProxmoxCollector

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def reset_all() -> None:  # accept, then hang up with RST before any TLS byte
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()

    threading.Thread(target=reset_all, daemon=True).start()
    try:
        collector = ProxmoxCollector("pve-x", f"127.0.0.1:{listener.getsockname()[1]}", "a@pve", "t",
                                     "11111111-2222-3333-4444-555555555555", False, timeout_s=2.0, concurrency=2)
        try:
            collector.collect(Emitter("pve-x", lambda data, media: ""))
            raise AssertionError("expected SourceFailed")
        except SourceFailed as exc:
            message = str(exc)
    finally:
        listener.close()
    assert message.startswith("GET /version: connection failed ("), message
    assert "11111111" not in message
