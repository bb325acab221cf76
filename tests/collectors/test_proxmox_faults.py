"""Faults, each over real HTTPS: what is unreadable is listed with its section and subject, the
run is recorded partial with the reason, and everything read before and after is kept."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from attest.lab.server import LabServer, ensure_certificates
from attest.lab.world import demo_world
from tests.collectors.helpers import Collected, collected, workspace

SRC = "pve-main"


def _run_outcome(c: Collected) -> dict[str, Any]:
    [run] = c.log.records(kind="attest.run")
    assert run.payload["status"] == "partial" if "status" in run.payload else True
    return next(s for s in run.payload["sources"] if s["source"] == SRC)


def _assert_partial(c: Collected) -> dict[str, Any]:
    assert c.summary.status == "partial"
    src = c.source()
    assert src.status == "partial" and src.error and "unreadable" in src.error
    outcome = _run_outcome(c)
    assert outcome["status"] == "partial" and outcome["failures"] == src.failures
    return outcome


def _lab(tmp_path: Path, **faults: Any) -> LabServer:
    world = faults.pop("world", None) or demo_world()
    return LabServer(world, tmp_path / "lab", **faults)


def test_a_timeout_on_one_guest_fails_that_guest_only(tmp_path: Path) -> None:
    with _lab(tmp_path, slow_paths={"/nodes/pve2/qemu/103/firewall/rules": 3.0}) as lab, \
            collected(workspace(tmp_path / "ws", lab.url, lab.ca_path, timeout_s=1)) as c:
        outcome = _assert_partial(c)
        [failure] = outcome["failures"]
        assert failure["section"] == "firewall" and failure["subject"] == f"{SRC}/qemu/103"
        assert "timed out after 1 s" in failure["error"] and "firewall/rules" in failure["error"]
        assert "firewall" in outcome["sections"]  # read through: the one gap is listed
        fw = c.records("proxmox.guest_firewall")
        assert f"{SRC}/qemu/103/firewall" not in fw and f"{SRC}/qemu/101/firewall" in fw


def test_a_5xx_on_a_cluster_wide_endpoint_fails_that_section_only(tmp_path: Path) -> None:
    with _lab(tmp_path, error_paths={"/cluster/ha/status/current": 500}) as lab, \
            collected(workspace(tmp_path / "ws", lab.url, lab.ca_path)) as c:
        outcome = _assert_partial(c)
        assert outcome["failures"] == [{"section": "ha", "subject": None, "error":
                                        "GET /cluster/ha/status/current: HTTP 500 Internal Server Error"}]
        assert "ha" not in outcome["sections"]
        assert {"cluster", "inventory", "storage", "backup", "tasks", "firewall"} <= set(outcome["sections"])
        assert not c.records("proxmox.ha_resource") and c.records("proxmox.guest_firewall")


def test_a_200_html_page_on_a_guest_endpoint_is_a_failure_not_data(tmp_path: Path) -> None:
    with _lab(tmp_path, not_json_paths=["/nodes/pve1/qemu/101/firewall/options"]) as lab, \
            collected(workspace(tmp_path / "ws", lab.url, lab.ca_path)) as c:
        outcome = _assert_partial(c)
        [failure] = outcome["failures"]
        assert failure["subject"] == f"{SRC}/qemu/101" and "not JSON" in failure["error"]
        assert "Content-Type text/html" in failure["error"]
        assert f"{SRC}/qemu/101/firewall" not in c.records("proxmox.guest_firewall")
        assert f"{SRC}/qemu/101" in c.records("proxmox.guest")  # the config was fine


def test_wrong_token_fails_the_source_with_the_status_and_no_secret(tmp_path: Path) -> None:
    with _lab(tmp_path) as lab:
        ws = workspace(tmp_path / "ws", lab.url, lab.ca_path)
        (ws.base / "secrets" / "pve-main.token").write_text("00000000-0000-0000-0000-000000000000\n")
        with collected(ws) as c:
            src = c.source()
            assert c.summary.status == "partial" and src.status == "failed"
            assert src.error is not None and "GET /version: HTTP 401" in src.error
            assert "00000000" not in src.error and src.records == 0


def test_a_token_refused_on_cluster_endpoints_is_partial_with_403s(tmp_path: Path) -> None:
    narrow = next(t for t in demo_world().tokens if t.tokenid == "narrow")
    with _lab(tmp_path) as lab:
        ws = workspace(tmp_path / "ws", lab.url, lab.ca_path, token_id=narrow.full_id)
        (ws.base / "secrets" / "pve-main.token").write_text(narrow.secret)
        with collected(ws) as c:
            outcome = _assert_partial(c)
            errors = {(f["section"], f["subject"]): f["error"] for f in outcome["failures"]}
            assert "HTTP 403" in errors[("cluster", None)] and "HTTP 403" in errors[("ha", None)]
            assert set(c.records("proxmox.guest")) == {f"{SRC}/qemu/101", f"{SRC}/qemu/120"}
            assert c.records("proxmox.permissions")  # what the token could see is on record


def test_an_offline_node_fails_its_guests_and_its_parts_only(tmp_path: Path) -> None:
    world = demo_world(offline_nodes=("pve3",))
    on_pve3 = {f"{SRC}/{g.type}/{g.vmid}" for g in world.guests if g.node == "pve3"}
    with _lab(tmp_path, world=world) as lab, collected(workspace(tmp_path / "ws", lab.url, lab.ca_path)) as c:
        outcome = _assert_partial(c)
        failures = outcome["failures"]
        assert all("595" in f["error"] for f in failures)
        assert {f["subject"] for f in failures if f["section"] == "inventory"} == on_pve3
        assert {f["subject"] for f in failures if f["section"] == "firewall"} == on_pve3 | {f"{SRC}/node/pve3"}
        assert f"{SRC}/node/pve3" in {f["subject"] for f in failures if f["section"] == "tasks"}
        assert not any(f["subject"] is None for f in failures)  # no whole section lost
        assert set(outcome["sections"]) == {"cluster", "inventory", "ha", "storage", "backup", "tasks", "events",
                                            "firewall"}
        guests = c.records("proxmox.guest")
        assert f"{SRC}/qemu/101" in guests and guests[f"{SRC}/qemu/101"]["config_read"] is True
        # pve3's guests keep a record built from the guest list: whose they are, nothing guessed
        for subject in on_pve3:
            unread = guests[subject]
            assert unread["config_read"] is False and unread["config"] is None
            assert unread["nics"] is None and unread["disks"] is None
            assert unread["node"] == "pve3" and unread["vmid"] == int(subject.rsplit("/", 1)[1])
        acme_102 = guests[f"{SRC}/qemu/102"]
        assert acme_102["tags"] == ["pbx", "standby", "t-acme"] and acme_102["pool"] == "acme"
        inventory = c.records("proxmox.inventory")[SRC]
        assert not on_pve3 & {f"{SRC}/{g}" for g in inventory["configs_read"]}
        nodes = {n["name"]: n for n in c.records("proxmox.cluster")[SRC]["nodes"]}
        assert nodes["pve3"]["online"] is False and nodes["pve3"]["status"] == "offline"
        # backups of pve3's guests live on shared PBS storage: still listed through another node
        assert any(s.startswith(f"{SRC}/qemu/105/backup/") for s in c.records("proxmox.backup_volume"))


# -- a body cut off mid-way: a server that promises more bytes than it sends --------------------------


@contextmanager
def _cutting_server(tmp_path: Path, cut_path: str) -> Iterator[tuple[str, Path]]:
    from attest.lab.pve_api import PveApi
    from attest.lab.wire import api_path

    api = PveApi(demo_world())
    certs = ensure_certificates(tmp_path / "cut-lab")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            split = urlsplit(self.path)
            resp = api.handle("GET", unquote(split.path), dict(parse_qsl(split.query)), dict(self.headers.items()))
            cut = api_path(unquote(split.path)) == cut_path
            self.send_response(resp.status, resp.reason)
            self.send_header("Content-Type", resp.content_type or "application/json")
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            self.wfile.write(resp.body[: len(resp.body) // 2] if cut else resp.body)
            if cut:
                self.close_connection = True  # hang up half-way, as a dying proxy does

        def log_message(self, format: str, *args: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert_path, certs.key_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}", certs.ca_path
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_truncated_body_is_a_failure_of_that_section(tmp_path: Path) -> None:
    with _cutting_server(tmp_path, "/cluster/backup") as (url, ca), \
            collected(workspace(tmp_path / "ws", url, ca)) as c:
        outcome = _assert_partial(c)
        [failure] = outcome["failures"]
        assert failure["section"] == "backup" and failure["subject"] is None
        assert "cut off" in failure["error"] and "/cluster/backup" in failure["error"]
        assert not c.records("proxmox.backup_job") and c.records("proxmox.backup_volume")
