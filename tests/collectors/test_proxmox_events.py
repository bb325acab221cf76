"""Section `events` against the lab over real HTTPS: guest and node lifecycle tasks per guest and
per node, the demo's outage scenarios (greco: node failure and HA recovery; horizon: HA
migration) at the instants the demo's probes place them, and unreadable task lists."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from attest.lab.server import LabServer
from attest.lab.sla_data import demo_outages, demo_window
from attest.lab.world import LabWorld, demo_world
from attest.sla.causes import GuestEvents, causes_of
from collectors.proxmox.events import GUEST_TYPES, NODE_TYPES
from tests.collectors.helpers import Collected, collected, workspace

SRC = "pve-main"
EVENT_KEYS = {"upid", "node", "type", "user", "starttime", "endtime", "status"}


def _world() -> LabWorld:
    """Now, or the last second of last month in the first two days of a month (the scenarios sit
    mid-month and must have happened; both are within the collector's 40 days)."""
    now = int(time.time())
    start, _ = demo_window(now)
    return demo_world(now=now if now - start >= 2 * 86400 else start - 1)


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("events")
    world = _world()
    with LabServer(world, d / "lab") as lab, collected(workspace(d / "ws", lab.url, lab.ca_path)) as c:
        yield world, c


def _outage(world: LabWorld, tenant: str) -> tuple[int, int]:
    [span] = demo_outages(*demo_window(world.now))[tenant]
    return span


def test_one_record_per_guest_and_per_node_citing_the_task_lists(lab_run: tuple[LabWorld, Collected]) -> None:
    world, c = lab_run
    src = c.source()
    assert src.status == "ok" and "events" in src.sections
    guests = c.records("proxmox.guest_events")
    assert set(guests) == {f"{SRC}/{g.type}/{g.vmid}/events" for g in world.guests}
    nodes = c.records("proxmox.node_events")
    assert set(nodes) == {f"{SRC}/node/{n.name}/events" for n in world.nodes}
    for payload in guests.values():
        assert payload["since"] < payload["until"] and payload["nodes_read"] == ["pve1", "pve2", "pve3", "pve4"]
        assert all(set(e) == EVENT_KEYS and e["type"] in GUEST_TYPES for e in payload["events"])
        starts = [e["starttime"] for e in payload["events"]]
        assert starts == sorted(starts)
    assert all(e["type"] in NODE_TYPES for p in nodes.values() for e in p["events"])
    for rec in [*c.log.records(kind="proxmox.guest_events"), *c.log.records(kind="proxmox.node_events")]:
        assert rec.data["artifacts"] and all(c.log.get_artifact(sha) for sha in rec.data["artifacts"])
    # backups and package updates are no lifecycle events
    assert not any(e["type"] in ("vzdump", "aptupdate") for p in guests.values() for e in p["events"])
    # pve4 hosts no guest: its monthly reboots for updates are there
    assert {e["type"] for e in nodes[f"{SRC}/node/pve4/events"]["events"]} == {"stopall", "startall"}


def test_greco_node_failure_and_ha_recovery(lab_run: tuple[LabWorld, Collected]) -> None:
    world, c = lab_run
    start, end = _outage(world, "greco")
    events = c.records("proxmox.guest_events")[f"{SRC}/qemu/108/events"]["events"]
    inside = [e for e in events if start <= e["starttime"] < end]
    recovery = next(e for e in inside if e["type"] == "qmstart")
    assert recovery["user"] == "root@pam" and recovery["node"] == "pve1" and recovery["status"] == "OK"
    assert recovery["upid"].startswith("UPID:pve1:") and ":qmstart:108:root@pam:" in recovery["upid"]
    assert not any(e["type"] in ("qmstop", "qmshutdown", "hastop", "qmigrate") for e in inside
                   if e["starttime"] < recovery["starttime"])
    boots = [e for e in c.records("proxmox.node_events")[f"{SRC}/node/pve2/events"]["events"]
             if e["type"] == "startall" and recovery["starttime"] <= e["starttime"] < end]
    assert len(boots) == 1 and boots[0]["user"] == "root@pam"


def test_horizon_ha_migration_across_its_outage(lab_run: tuple[LabWorld, Collected]) -> None:
    world, c = lab_run
    start, end = _outage(world, "horizon")
    events = c.records("proxmox.guest_events")[f"{SRC}/lxc/109/events"]["events"]
    near = [e for e in events if e["starttime"] <= end and e["endtime"] >= start - 300]
    assert [(e["type"], e["user"], e["node"]) for e in near] == [
        ("hamigrate", "ops@pve", "pve3"), ("vzmigrate", "root@pam", "pve3")]
    assert near[1]["starttime"] < start < near[1]["endtime"]  # the container was down while it moved


def _guest_events(c: Collected, world: LabWorld, vmid: int) -> GuestEvents:
    g = world.guest(vmid)
    payload = c.records("proxmox.guest_events")[f"{SRC}/{g.type}/{vmid}/events"]
    return GuestEvents(vmid, g.name, g.type, g.node, payload["events"])


def test_the_causes_of_the_demo_outages_from_the_records(lab_run: tuple[LabWorld, Collected]) -> None:
    world, c = lab_run
    nodes = {p["node"]: p["events"] for p in c.records("proxmox.node_events").values()}
    greco = causes_of(*_outage(world, "greco"), [_guest_events(c, world, 108)], nodes, time_zone="Europe/Rome")
    assert [x.kind for x in greco] == ["node_failure_recovery", "guest_restart"]
    assert greco[0].nodes == ("pve1", "pve2") and "node pve2 restarted at" in greco[0].text["en"]
    horizon = causes_of(*_outage(world, "horizon"), [_guest_events(c, world, 109)], nodes)
    assert [(x.kind, x.user) for x in horizon] == [("ha_migration", "ops@pve")]
    assert horizon[0].text["en"].startswith("HA migration of CT 109 (pbx-horizon-01) from pve3")
    # acme had no outage, and nothing of greco's or horizon's is attributed to it
    assert causes_of(*_outage(world, "greco"), [_guest_events(c, world, 101)], nodes) == []


# -- faults -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("faults", "words"), [
    ({"error_paths": {"/nodes/pve2/tasks": 500}}, "HTTP 500"),
    ({"not_json_paths": ["/nodes/pve2/tasks"]}, "not JSON"),
], ids=["http-500", "200-not-json"])
def test_an_unreadable_task_list_fails_that_node_and_its_guests_only(
        tmp_path: Path, faults: dict[str, Any], words: str) -> None:
    world = _world()
    on_pve2 = {f"{SRC}/{g.type}/{g.vmid}" for g in world.guests if g.node == "pve2"}
    with LabServer(world, tmp_path / "lab", **faults) as lab, \
            collected(workspace(tmp_path / "ws", lab.url, lab.ca_path)) as c:
        src = c.source()
        assert src.status == "partial"
        failures = [f for f in src.failures if f["section"] == "events"]
        assert {f["subject"] for f in failures} == on_pve2 | {f"{SRC}/node/pve2"}
        assert all(words in f["error"] and "/nodes/pve2/tasks" in f["error"] for f in failures)
        assert "events" in src.sections  # read through: the gaps are listed by subject
        guests = c.records("proxmox.guest_events")
        assert not {s.removesuffix("/events") for s in guests} & on_pve2  # no record claims a full history
        assert set(guests) == {f"{SRC}/{g.type}/{g.vmid}/events" for g in world.guests if g.node != "pve2"}
        assert f"{SRC}/node/pve2/events" not in c.records("proxmox.node_events")
        horizon = guests[f"{SRC}/lxc/109/events"]
        assert horizon["nodes_read"] == ["pve1", "pve3", "pve4"] and horizon["events"]
