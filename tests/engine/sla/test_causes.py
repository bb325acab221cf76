"""Outage causes from the Proxmox task log (attest.sla.causes), on hand-made task lists."""

from __future__ import annotations

from typing import Any

from attest.sla.causes import Cause, GuestEvents, attribute, causes_of

T = 1_762_000_000  # an outage starts here
MIN = 60


def ev(node: str, type_: str, user: str, start: int, end: int | None = None, status: str = "OK",
       vmid: int | str = 108) -> dict[str, Any]:
    upid = f"UPID:{node}:00001234:00005678:{start:08X}:{type_}:{vmid}:{user}:"
    return {"upid": upid, "node": node, "type": type_, "user": user, "starttime": start,
            "endtime": start + 5 if end is None else end, "status": status}


def vm(*events: dict[str, Any], node: str = "pve2") -> GuestEvents:
    return GuestEvents(108, "pbx-greco-01", "qemu", node, events)


def kinds(causes: list[Cause]) -> list[str]:
    return [c.kind for c in causes]


def test_no_events_no_cause() -> None:
    assert attribute([(T, T + 10 * MIN)], [vm()]) == [[]]
    assert attribute([], [vm(ev("pve2", "qmreboot", "ops@pve", T))]) == []


def test_an_event_outside_the_slack_is_no_cause_and_the_slack_is_a_parameter() -> None:
    reboot = ev("pve2", "qmreboot", "ops@pve", T - 6 * MIN, T - 6 * MIN + 50)  # over 5 min before
    after = ev("pve2", "qmreboot", "ops@pve", T + 10 * MIN + 5 * MIN + 1)  # just past end + 5 min
    assert causes_of(T, T + 10 * MIN, [vm(reboot, after)]) == []
    assert kinds(causes_of(T, T + 10 * MIN, [vm(reboot, after)], slack_s=7 * MIN)) == ["guest_restart"] * 2
    # a task that started before the window but ran into it overlaps it
    long = ev("pve2", "qmreboot", "ops@pve", T - 20 * MIN, T - 4 * MIN)
    assert kinds(causes_of(T, T + 10 * MIN, [vm(long)])) == ["guest_restart"]


def test_ha_migration_pairs_the_request_with_the_migration_ha_ran() -> None:
    ha = ev("pve3", "hamigrate", "ops@pve", T - 55, T - 54, vmid=109)
    move = ev("pve3", "vzmigrate", "root@pam", T - 45, T + 330, vmid=109)
    ct = GuestEvents(109, "pbx-horizon-01", "lxc", "pve3", [move, ha])
    [cause] = causes_of(T, T + 10 * MIN, [ct], time_zone="UTC")
    assert cause.kind == "ha_migration" and cause.vmid == 109 and cause.nodes == ("pve3",)
    assert cause.upids == (ha["upid"], move["upid"]) and cause.user == "ops@pve" and cause.at == T - 55
    assert cause.text["en"].startswith("HA migration of CT 109 (pbx-horizon-01) from pve3 at ")
    assert "(task by ops@pve)" in cause.text["en"]
    assert cause.text["it"].startswith("Migrazione HA del container 109 (pbx-horizon-01) dal nodo pve3")


def test_a_migration_without_ha_request_is_a_migration_not_a_recovery() -> None:
    move = ev("pve1", "qmigrate", "root@pam", T - 30, T + 40)
    start = ev("pve2", "qmstart", "root@pam", T + 50)  # e.g. an offline migration's start
    causes = causes_of(T, T + 10 * MIN, [vm(move, start)])
    assert kinds(causes) == ["migration", "guest_restart"]
    assert "Migration of VM 108 (pbx-greco-01) from pve1" in causes[0].text["en"]


def test_node_failure_recovery_corroborated_by_the_node_that_came_back() -> None:
    crash = T - 40
    start = ev("pve1", "qmstart", "root@pam", crash + 150)
    reboot = ev("pve1", "qmreboot", "ops@pve", T + 6 * 3600 - 150)
    boot = ev("pve2", "startall", "root@pam", crash + 380, vmid="")
    noise = ev("pve4", "startall", "root@pam", crash + 100, vmid="")  # no guest of ours there: not named
    causes = causes_of(T, T + 6 * 3600, [vm(reboot, start)], {"pve2": [boot], "pve4": [noise]},
                       time_zone="Europe/Rome")
    assert kinds(causes) == ["node_failure_recovery", "guest_restart"]
    recovery = causes[0]
    assert recovery.nodes == ("pve1", "pve2") and recovery.upids == (start["upid"], boot["upid"])
    assert "its node most likely failed" in recovery.text["en"] and "node pve2 restarted at" in recovery.text["en"]
    assert "il nodo pve2 è ripartito" in recovery.text["it"]
    assert "rebooted on pve1" in causes[1].text["en"] and causes[1].user == "ops@pve"


def test_a_recovery_without_a_node_boot_says_so_less_firmly() -> None:
    start = ev("pve1", "qmstart", "root@pam", T + 100)
    [cause] = causes_of(T, T + 10 * MIN, [vm(start)])
    assert cause.kind == "node_failure_recovery" and cause.upids == (start["upid"],)
    assert "restarted at" not in cause.text["en"]


def test_a_root_start_after_a_stop_is_no_recovery() -> None:
    stop = ev("pve2", "qmstop", "root@pam", T - 60)
    start = ev("pve2", "qmstart", "root@pam", T + 120)
    [cause] = causes_of(T, T + 10 * MIN, [vm(stop, start)])
    assert cause.kind == "guest_stop" and cause.upids == (stop["upid"], start["upid"])
    assert "started again at" in cause.text["en"]


def test_a_planned_node_reboot_is_no_failure() -> None:
    down = ev("pve2", "stopall", "root@pam", T - 100, vmid="")
    up = ev("pve2", "startall", "root@pam", T + 200, vmid="")
    start = ev("pve2", "qmstart", "root@pam", T + 210)
    causes = causes_of(T, T + 10 * MIN, [vm(start)], {"pve2": [up, down]})
    assert kinds(causes) == ["node_shutdown", "node_boot", "guest_restart"]
    assert causes[0].vmid is None and causes[0].text["en"].startswith("Node pve2 shut down at")


def test_a_stop_by_a_user_is_a_guest_stop_and_ha_requests_pair_with_their_work() -> None:
    hastop = ev("pve2", "hastop", "ops@pve", T - 20, T - 19)
    shutdown = ev("pve2", "qmshutdown", "root@pam", T - 18, T + 30)
    hastart = ev("pve2", "hastart", "ops@pve", T + 8 * MIN, T + 8 * MIN + 1)
    start = ev("pve2", "qmstart", "root@pam", T + 8 * MIN + 10)
    [cause] = causes_of(T, T + 10 * MIN, [vm(hastop, shutdown, hastart, start)], time_zone="UTC")
    assert cause.kind == "guest_stop" and cause.user == "ops@pve"
    assert cause.upids == (hastop["upid"], shutdown["upid"], hastart["upid"], start["upid"])
    assert cause.text["en"].startswith("VM 108 (pbx-greco-01) was stopped through HA on pve2")
    assert "by ops@pve" in cause.text["en"] and "La VM 108 (pbx-greco-01) è stata fermata" in cause.text["it"]

    plain = ev("pve2", "qmshutdown", "ops@pve", T - 30, T + 10)
    [alone] = causes_of(T, T + 10 * MIN, [vm(plain)])
    assert alone.kind == "guest_stop" and "shut down on pve2" in alone.text["en"] and "again" not in alone.text["en"]


def test_a_failed_shutdown_did_not_stop_the_guest() -> None:
    failed = ev("pve2", "qmshutdown", "ops@pve", T - 200, T - 80, status="VM quit/powerdown failed - got timeout")
    stop = ev("pve2", "qmstop", "ops@pve", T - 75)
    [cause] = causes_of(T, T + 10 * MIN, [vm(failed, stop)])
    assert cause.kind == "guest_stop" and cause.upids == (stop["upid"],) and "stopped (hard)" in cause.text["en"]


def test_causes_are_in_time_order_and_each_outage_gets_its_own() -> None:
    first = ev("pve2", "qmreboot", "ops@pve", T + 10)
    second = ev("pve2", "qmreboot", "ops@pve", T + 5 * 3600)
    result = attribute([(T + 5 * 3600 - 60, T + 5 * 3600 + 600), (T, T + 600)], [vm(second, first)])
    assert [[c.upids for c in causes] for causes in result] == [[(second["upid"],)], [(first["upid"],)]]


def test_malformed_events_are_skipped() -> None:
    bad = [{"type": "qmstart", "user": "root@pam", "starttime": None}, {"type": "qmreboot", "starttime": True}]
    assert causes_of(T, T + 600, [vm(*bad)]) == []
