"""What happened to the lab's guests and nodes besides backups: starts, stops, reboots,
migrations, node reboots, as the tasks PVE logs for them. Derived from the world and its `now`
(deterministic, like `attest.lab.history`, which turns these into task-list entries).

How real PVE logs these, and so the lab:
* a guest task's id is the vmid; a node-wide one (`startall` at boot, `stopall` at shutdown) has
  id "" and user root@pam (the `pve-guests` service);
* a user's start, shutdown or migration of an HA-managed guest is only a request to the HA stack:
  PVE logs `hastart` / `hastop` / `hamigrate` under the user, and the node's LRM then does the
  work as `qmstart` / `qmshutdown` / `qmigrate` (`vz*` for containers) under root@pam;
* when a node fails, HA fences it and the LRM of another node starts its guests there (a
  root@pam `qmstart` with no stop before it); the failed node logs `startall` when it is back;
* a container cannot move while running: its migration is a restart (down until it ends).

The demo's scenarios line up with the demo's probe outages (`attest.lab.sla_data.demo_outages`
over `demo_window(now)`): greco's node fails at the start of its outage, HA restarts the VM on
another node ~2.5 min later, the node is back ~6 min after failing, an operator reboots the VM
just before the outage ends, and two hours after it the VM is live-migrated back; horizon's
container is HA-migrated (a restart migration) across its outage and migrated back three hours
later between two probes. Routine noise elsewhere: night-time reboots and short planned
shutdowns of some guests, monthly reboots of nodes that host no guest. Noise never comes within
six hours of a scenario.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from attest.lab.sla_data import INTERVAL_S, demo_outages, demo_window
from attest.lab.world import LabGuest, LabWorld

DAY = 86400
OPERATOR = "ops@pve"
HA_USER = "root@pam"
_QUIET_S = 6 * 3600  # noise keeps this far from any scenario


@dataclass(frozen=True)
class LifeEvent:
    """One finished task: where it ran, what, on which guest ("" = the node), who, when."""

    node: str
    type: str
    id: str
    user: str
    start: int
    end: int
    status: str = "OK"
    target: str | None = None  # migrations: the node it went to


def _pick(*parts: object, modulo: int) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in ("life", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % modulo


def _prefix(guest: LabGuest) -> str:
    return "qm" if guest.type == "qemu" else "vz"


def _other_node(world: LabWorld, node: str) -> str:
    """A node to fail over or migrate to: one at the same site if there is one."""
    site = next((n.site for n in world.nodes if n.name == node), None)
    others = [n for n in world.nodes if n.name != node]
    same_site = [n for n in others if n.site == site]
    return (same_site or others)[0].name if others else node


def _tenant_guest(world: LabWorld, tenant_id: str) -> LabGuest | None:
    tenant = next((t for t in world.tenants if t.id == tenant_id), None)
    if tenant is None:
        return None
    mine = [g for g in world.guests if not g.template
            and ((tenant.tag and tenant.tag in g.tags) or (tenant.pool and g.pool == tenant.pool))]
    return min(mine, key=lambda g: g.vmid, default=None)


# --- the demo's scenarios ----------------------------------------------------------------------------


def _node_failure(world: LabWorld, guest: LabGuest, start: int, end: int) -> list[LifeEvent]:
    """greco: its node fails just before the first failed probe; HA recovers the VM elsewhere."""
    p, vmid = _prefix(guest), str(guest.vmid)
    failed, rescuer = guest.node, _other_node(world, guest.node)
    migrate = "qmigrate" if guest.type == "qemu" else "vzmigrate"
    crash = start - 40
    back = end + 2 * 3600
    return [
        LifeEvent(rescuer, f"{p}start", vmid, HA_USER, crash + 150, crash + 153),
        LifeEvent(failed, "startall", "", HA_USER, crash + 380, crash + 382),
        LifeEvent(rescuer, f"{p}reboot", vmid, OPERATOR, end - 150, end - 95),
        # later, quietly, back where it belongs (a live migration: no downtime)
        LifeEvent(rescuer, "hamigrate", vmid, OPERATOR, back, back + 1, target=failed),
        LifeEvent(rescuer, migrate, vmid, HA_USER, back + 8, back + 52, target=failed),
    ]


def _ha_migration(world: LabWorld, guest: LabGuest, start: int, end: int) -> list[LifeEvent]:
    """horizon: an operator asks HA to move the guest; a container moves by restarting, so it is
    down while the migration runs (across the outage the probes saw)."""
    vmid, home, away = str(guest.vmid), guest.node, _other_node(world, guest.node)
    migrate = "qmigrate" if guest.type == "qemu" else "vzmigrate"
    back = start + 3 * 3600 + 100  # between two probes: no sample sees it
    return [
        LifeEvent(home, "hamigrate", vmid, OPERATOR, start - 55, start - 54, target=away),
        LifeEvent(home, migrate, vmid, HA_USER, start - 45, end - 270, target=away),
        LifeEvent(away, "hamigrate", vmid, OPERATOR, back - 10, back - 9, target=home),
        LifeEvent(away, migrate, vmid, HA_USER, back, back + 70, target=home),
    ]


SCENARIOS = {"greco": _node_failure, "horizon": _ha_migration}


def demo_scenarios(world: LabWorld) -> list[LifeEvent]:
    """The tasks behind the demo's probe outages (for the tenants the world has)."""
    out: list[LifeEvent] = []
    for tenant_id, spans in demo_outages(*demo_window(world.now)).items():
        guest = _tenant_guest(world, tenant_id) if tenant_id in SCENARIOS else None
        if guest is None:
            continue
        for start, end in spans:
            out += SCENARIOS[tenant_id](world, guest, start, end)
    return out


# --- routine noise -----------------------------------------------------------------------------------


def _night(world: LabWorld, since: int, *parts: object) -> int:
    """A deterministic instant between 22:00 and 01:00 UTC on some day of the history, 20 s after
    a multiple of 5 minutes: what starts there and is over within 280 s falls between two of the
    demo's probes (`sla_data.INTERVAL_S`), which saw nothing of it."""
    days = max(1, (world.now - since) // DAY - 1)
    day = since - since % DAY + DAY * (1 + _pick(*parts, "day", modulo=days))
    return day + 22 * 3600 + INTERVAL_S * _pick(*parts, "at", modulo=3 * 3600 // INTERVAL_S) + 20


def _guest_noise(world: LabWorld, guest: LabGuest, since: int, ha_managed: bool) -> list[LifeEvent]:
    p, vmid, node = _prefix(guest), str(guest.vmid), guest.node
    kind = _pick(guest.vmid, "kind", modulo=4)
    at = _night(world, since, guest.vmid)
    if kind == 0:  # a reboot after updates
        return [LifeEvent(node, f"{p}reboot", vmid, OPERATOR, at, at + 40 + _pick(guest.vmid, modulo=30))]
    if kind != 1:
        return []
    # a short planned shutdown, over before the next probe
    down = at + 30 + _pick(guest.vmid, "stop", modulo=30)
    up = down + 120 + _pick(guest.vmid, "up", modulo=60)  # <= at + 239
    if ha_managed:
        return [LifeEvent(node, "hastop", vmid, OPERATOR, at - 2, at - 1),
                LifeEvent(node, f"{p}shutdown", vmid, HA_USER, at, down),
                LifeEvent(node, "hastart", vmid, OPERATOR, up - 12, up - 11),
                LifeEvent(node, f"{p}start", vmid, HA_USER, up - 2, up)]
    if guest.type == "qemu" and _pick(guest.vmid, "timeout", modulo=2) == 0:
        # the guest ignored the ACPI shutdown: the operator stopped it hard
        return [LifeEvent(node, "qmshutdown", vmid, OPERATOR, at, at + 120,
                          status="VM quit/powerdown failed - got timeout"),
                LifeEvent(node, "qmstop", vmid, OPERATOR, at + 125, at + 128),
                LifeEvent(node, "qmstart", vmid, OPERATOR, at + 240, at + 242)]
    return [LifeEvent(node, f"{p}shutdown", vmid, OPERATOR, at, down),
            LifeEvent(node, f"{p}start", vmid, OPERATOR, up - 2, up)]


def _node_noise(world: LabWorld, node: str, since: int) -> list[LifeEvent]:
    """A node with no guest is rebooted for updates about once a month."""
    out = []
    first = since - since % DAY + DAY * (3 + _pick(node, "first", modulo=20))
    for day in range(first, world.now, 30 * DAY):
        at = day + 21 * 3600 + _pick(node, day, modulo=3600)
        out += [LifeEvent(node, "stopall", "", HA_USER, at, at + 4),
                LifeEvent(node, "startall", "", HA_USER, at + 190, at + 192)]
    return out


def routine(world: LabWorld, since: int) -> list[LifeEvent]:
    out: list[LifeEvent] = []
    ha = {r.vmid for r in world.ha_resources}
    for guest in sorted(world.guests, key=lambda g: g.vmid):
        if not guest.template and guest.status == "running":
            out += _guest_noise(world, guest, since, guest.vmid in ha)
    busy = {g.node for g in world.guests}
    for n in world.nodes:
        if n.name not in busy:
            out += _node_noise(world, n.name, since)
    return out


def lifecycle_events(world: LabWorld, since: int) -> list[LifeEvent]:
    """Every lifecycle task that started in [since, now] and ended by `now` (finished tasks only:
    the archive a task list shows)."""
    scenarios = demo_scenarios(world)
    quiet = [(e.start - _QUIET_S, e.end + _QUIET_S) for e in scenarios]
    noise = [e for e in routine(world, since) if not any(a <= e.start <= b or a <= e.end <= b for a, b in quiet)]
    return [e for e in (*scenarios, *noise) if since <= e.start and e.end <= world.now]
