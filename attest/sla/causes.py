"""What the Proxmox task log says about an outage: the "cause where known" of each outage the
probes saw, from the tasks of the tenant's guests (`proxmox.guest_events`) and of the nodes
(`proxmox.node_events`) that overlap [outage start − slack, outage end + slack].

Pure: outages and events in, causes out; nothing is fetched. A cause is what the task log shows
near the outage, not proof that it caused it; no cause means the log shows nothing there (or was
not fully read), never that the outage had none.

How tasks are read (as PVE logs them: see `collectors.proxmox.events`):
* `hamigrate` / `harelocate` (a user's request to HA) with the `qmigrate` / `vzmigrate` HA ran
  for it → `ha_migration`; a migration without such a request → `migration`;
* a start by root@pam (HA's LRM, or a node's `startall` at boot) with no stop, shutdown, reboot,
  migration or restore of that guest between the window's start and it → `node_failure_recovery`,
  corroborated by the `startall` of the node that came back (`node pve2 restarted at …`) — unless
  that node had also logged a `stopall` before (a planned reboot, not a failure);
* a stop, shutdown or suspend → `guest_stop` (with the start that ended it, when in the window);
  `hastop` and the shutdown HA ran for it are one cause; a stop task that failed did not stop;
* a reboot, reset, rollback, restore, or a start nothing above explains → `guest_restart`;
* a node's `startall` / `stopall` not used above → `node_boot` / `node_shutdown`, for the nodes
  the guests were on (their current node and the nodes of their tasks in the window).

Causes are in time order (the task they rest on first); at the same second the most specific
comes first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

__all__ = ["DEFAULT_SLACK_S", "Cause", "CauseKind", "GuestEvents", "attribute", "causes_of"]

CauseKind = Literal["ha_migration", "migration", "node_failure_recovery", "guest_restart", "guest_stop",
                    "node_boot", "node_shutdown"]
# Most specific first (ties at the same second).
_RANK: dict[str, int] = {"node_failure_recovery": 0, "ha_migration": 1, "migration": 2, "guest_stop": 3,
                         "guest_restart": 4, "node_shutdown": 5, "node_boot": 6}
DEFAULT_SLACK_S = 300.0
HA_USER = "root@pam"  # HA's LRM, and a node's pve-guests service, run their tasks as root@pam

_STARTS = frozenset({"qmstart", "vzstart", "hastart", "qmresume", "vzresume"})
_STOPS = frozenset({"qmstop", "qmshutdown", "vzstop", "vzshutdown", "qmsuspend", "vzsuspend", "hastop"})
_REBOOTS = frozenset({"qmreboot", "vzreboot", "qmreset", "qmrollback", "vzrollback", "qmrestore", "vzrestore"})
_MIGRATES = frozenset({"qmigrate", "vzmigrate"})
_HA_MOVES = frozenset({"hamigrate", "harelocate"})
# What explains why a guest had to be started (so a root@pam start after it is no recovery).
_EXPLAINS_START = _STOPS | _REBOOTS | _MIGRATES | _HA_MOVES


@dataclass(frozen=True)
class GuestEvents:
    """One of the tenant's guests: who it is and its events (the `events` of its
    `proxmox.guest_events` record)."""

    vmid: int
    name: str | None = None
    type: str = "qemu"  # "qemu" (VM) | "lxc" (CT)
    node: str | None = None  # where the inventory lists it
    events: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class Cause:
    kind: CauseKind
    at: int  # start (Unix s) of the first task it rests on
    vmid: int | None  # None: a node-wide cause
    nodes: tuple[str, ...]  # the nodes its tasks ran on (a recovery: the new node, then the one that came back)
    upids: tuple[str, ...]  # the tasks it rests on, in time order
    user: str | None  # who asked for it (the first task's user)
    text: dict[str, str] = field(compare=False)  # {"en": ..., "it": ...}


@dataclass(frozen=True)
class _Ev:
    upid: str
    node: str
    type: str
    user: str
    start: int
    end: int | None
    ok: bool

    @staticmethod
    def of(raw: Mapping[str, Any]) -> _Ev | None:
        start, end = raw.get("starttime"), raw.get("endtime")
        if not isinstance(start, int) or isinstance(start, bool):
            return None
        return _Ev(str(raw.get("upid") or ""), str(raw.get("node") or "?"), str(raw.get("type") or ""),
                   str(raw.get("user") or "?"), start, end if isinstance(end, int) else None,
                   raw.get("status") in (None, "OK") or str(raw.get("status")).startswith("WARNINGS"))

    def overlaps(self, lo: float, hi: float) -> bool:
        return self.start <= hi and (self.end if self.end is not None else self.start) >= lo


def attribute(outages: Sequence[tuple[float, float]], guests: Sequence[GuestEvents],
              node_events: Mapping[str, Sequence[Mapping[str, Any]]] | None = None, *,
              slack_s: float = DEFAULT_SLACK_S, time_zone: str = "UTC") -> list[list[Cause]]:
    """For each outage [start, end) (Unix s), in the same order: the causes the task log shows."""
    return [causes_of(start, end, guests, node_events, slack_s=slack_s, time_zone=time_zone)
            for start, end in outages]


def causes_of(start: float, end: float, guests: Sequence[GuestEvents],
              node_events: Mapping[str, Sequence[Mapping[str, Any]]] | None = None, *,
              slack_s: float = DEFAULT_SLACK_S, time_zone: str = "UTC") -> list[Cause]:
    lo, hi = start - slack_s, end + slack_s
    tz = ZoneInfo(time_zone)
    words = _Words(tz, start)
    nodes = {n: sorted((e for e in (_Ev.of(r) for r in raws) if e is not None and e.overlaps(lo, hi)),
                       key=lambda e: (e.start, e.upid))
             for n, raws in (node_events or {}).items()}
    used: set[str] = set()  # node task upids a guest cause took
    causes: list[Cause] = []
    related: set[str] = set()
    for guest in guests:
        evs = sorted((e for e in (_Ev.of(r) for r in guest.events) if e is not None and e.overlaps(lo, hi)),
                     key=lambda e: (e.start, e.upid))
        related |= {e.node for e in evs} | ({guest.node} if guest.node else set())
        causes += _guest_causes(guest, evs, lo, nodes, used, words)
    for node in sorted(related):
        for e in nodes.get(node, ()):
            if e.upid in used or e.type not in ("startall", "stopall", "migrateall"):
                continue
            causes.append(_node_cause(e, words))
    return sorted(causes, key=lambda c: (c.at, _RANK[c.kind], c.upids))


# --- per guest ------------------------------------------------------------------------------------------


def _guest_causes(guest: GuestEvents, evs: list[_Ev], lo: float, nodes: Mapping[str, list[_Ev]],
                  used: set[str], words: _Words) -> list[Cause]:
    taken: set[str] = set()
    out: list[Cause] = []

    def take(*es: _Ev) -> tuple[str, ...]:
        taken.update(e.upid for e in es)
        return tuple(e.upid for e in es)

    def later(e: _Ev, kinds: frozenset[str], user: str | None = None, node: str | None = None) -> _Ev | None:
        return next((x for x in evs if x.upid not in taken and x.start >= e.start and x is not e
                     and x.type in kinds and (user is None or x.user == user) and (node is None or x.node == node)),
                    None)

    g = words.guest(guest)
    # nodes the guest is known to live on: where the inventory lists it, where its tasks ran
    home = {guest.node} if guest.node else set()
    home |= {str(r.get("node")) for r in guest.events if r.get("node")}
    for e in evs:  # HA migrations: the request, and the migration HA ran for it
        if e.type in _HA_MOVES and e.upid not in taken:
            done = later(e, _MIGRATES, HA_USER, e.node)
            upids = take(e, *((done,) if done else ()))
            out.append(Cause("ha_migration", e.start, guest.vmid, (e.node,), upids, e.user,
                             words.ha_migration(g, e, done)))
    for e in evs:  # migrations nobody asked HA for
        if e.type in _MIGRATES and e.upid not in taken:
            out.append(Cause("migration", e.start, guest.vmid, (e.node,), take(e), e.user, words.migration(g, e)))
    for e in evs:  # stops (and the start that ended them)
        if e.type not in _STOPS or e.upid in taken or not e.ok:
            continue
        pair = [e]
        if e.type == "hastop" and (work := later(e, _STOPS - {"hastop"}, HA_USER)) is not None:
            pair.append(work)
        take(*pair)
        back = later(pair[-1], _STARTS)
        back_pair = [back] if back is not None and back.ok else []
        if back_pair and back_pair[0].type == "hastart" and (
                work := later(back_pair[0], _STARTS - {"hastart"}, HA_USER)) is not None:
            back_pair.append(work)
        upids = take(*pair, *back_pair)
        out.append(Cause("guest_stop", e.start, guest.vmid, tuple(dict.fromkeys(x.node for x in pair + back_pair)),
                         upids, e.user, words.stop(g, e, back_pair[-1] if back_pair else None)))
    for e in evs:  # reboots, resets, rollbacks, restores
        if e.type in _REBOOTS and e.upid not in taken:
            out.append(Cause("guest_restart", e.start, guest.vmid, (e.node,), take(e), e.user, words.restart(g, e)))
    for e in evs:  # starts nothing above explained
        if e.type not in _STARTS or e.upid in taken or not e.ok:
            continue
        explained = any(x.type in _EXPLAINS_START and lo <= x.start <= e.start and x is not e for x in evs)
        if e.type == "hastart" and (work := later(e, _STARTS - {"hastart"}, HA_USER)) is not None:
            out.append(Cause("guest_restart", e.start, guest.vmid, (work.node,), take(e, work), e.user,
                             words.restart(g, e, work.node)))
        elif e.user == HA_USER and not explained and not _planned_boot(e, nodes):
            boot = _boot_of(e, nodes, used, home)
            upids = take(e) + ((boot.upid,) if boot else ())
            if boot is not None:
                used.add(boot.upid)
            out.append(Cause("node_failure_recovery", e.start, guest.vmid,
                             tuple(dict.fromkeys((e.node, *((boot.node,) if boot else ())))), upids, e.user,
                             words.recovery(g, e, boot)))
        else:
            out.append(Cause("guest_restart", e.start, guest.vmid, (e.node,), take(e), e.user, words.restart(g, e)))
    return out


def _planned_boot(start: _Ev, nodes: Mapping[str, list[_Ev]]) -> bool:
    """The start came with its own node's boot after a logged shutdown (`stopall`, then `startall`)."""
    mine = [e for e in nodes.get(start.node, ()) if e.start <= start.start]
    boot = next((e for e in reversed(mine) if e.type == "startall"), None)
    return boot is not None and any(e.type == "stopall" and e.start <= boot.start for e in mine)


def _boot_of(start: _Ev, nodes: Mapping[str, list[_Ev]], used: set[str], home: set[str]) -> _Ev | None:
    """The node that came back: its own node's boot just before the start (the guest came up with
    it), else the first boot, with no shutdown logged before it, of another node in the window —
    one the guest is known to live on (*home*) before any other."""
    def unplanned(e: _Ev) -> bool:
        return not any(x.type == "stopall" and x.start <= e.start for x in nodes.get(e.node, ()))

    own = [e for e in nodes.get(start.node, ()) if e.type == "startall" and e.start <= start.start and unplanned(e)]
    if own:
        return own[-1]
    others = [e for n, es in sorted(nodes.items()) if n != start.node for e in es
              if e.type == "startall" and e.upid not in used and unplanned(e)]
    return min(others, key=lambda e: (e.node not in home, e.start, e.upid), default=None)


def _node_cause(e: _Ev, words: _Words) -> Cause:
    if e.type == "startall":
        return Cause("node_boot", e.start, None, (e.node,), (e.upid,), e.user, words.node(e))
    if e.type == "stopall":
        return Cause("node_shutdown", e.start, None, (e.node,), (e.upid,), e.user, words.node(e))
    return Cause("migration", e.start, None, (e.node,), (e.upid,), e.user, words.node(e))


# --- words ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Guest:
    en: str  # "VM 108 (pbx-greco-01)"
    it: str  # "la VM 108 (pbx-greco-01)"
    it_of: str  # "della VM 108 (…)"
    fem: bool  # Italian agreement: la VM … avviata / il container … avviato


_VERB_EN = {"qmreboot": "rebooted", "vzreboot": "rebooted", "qmreset": "reset (hard)",
            "qmrollback": "rolled back to a snapshot", "vzrollback": "rolled back to a snapshot",
            "qmrestore": "restored from a backup", "vzrestore": "restored from a backup",
            "qmstop": "stopped (hard)", "vzstop": "stopped (hard)", "qmshutdown": "shut down",
            "vzshutdown": "shut down", "qmsuspend": "suspended", "vzsuspend": "suspended",
            "hastop": "stopped through HA"}
_VERB_IT = {"qmreboot": "riavviat{a}", "vzreboot": "riavviat{a}", "qmreset": "resettat{a} (a freddo)",
            "qmrollback": "riportat{a} a uno snapshot", "vzrollback": "riportat{a} a uno snapshot",
            "qmrestore": "ripristinat{a} da un backup", "vzrestore": "ripristinat{a} da un backup",
            "qmstop": "fermat{a} (a freddo)", "vzstop": "fermat{a} (a freddo)", "qmshutdown": "spent{a}",
            "vzshutdown": "spent{a}", "qmsuspend": "sospes{a}", "vzsuspend": "sospes{a}",
            "hastop": "fermat{a} tramite HA"}


class _Words:
    def __init__(self, tz: ZoneInfo, outage_start: float) -> None:
        self.tz = tz
        self.day = self._local(outage_start).date()

    def _local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, UTC).astimezone(self.tz)

    def at(self, ts: float) -> str:
        """The time, with the date when it is not the outage's day."""
        local = self._local(ts)
        return local.strftime("%H:%M:%S" if local.date() == self.day else "%Y-%m-%d %H:%M:%S")

    @staticmethod
    def guest(g: GuestEvents) -> _Guest:
        name = f" ({g.name})" if g.name else ""
        if g.type == "lxc":
            return _Guest(f"CT {g.vmid}{name}", f"il container {g.vmid}{name}", f"del container {g.vmid}{name}",
                          False)
        return _Guest(f"VM {g.vmid}{name}", f"la VM {g.vmid}{name}", f"della VM {g.vmid}{name}", True)

    @staticmethod
    def _cap(text: str) -> str:
        return text[:1].upper() + text[1:]

    def ha_migration(self, g: _Guest, e: _Ev, done: _Ev | None) -> dict[str, str]:
        what = "HA relocation (a restart on another node)" if e.type == "harelocate" else "HA migration"
        cosa = "Rilocazione HA (riavvio su un altro nodo)" if e.type == "harelocate" else "Migrazione HA"
        en = f"{what} of {g.en} from {e.node} at {self.at(e.start)} (task by {e.user})"
        it = f"{cosa} {g.it_of} dal nodo {e.node} alle {self.at(e.start)} (attività di {e.user})"
        if done is not None and done.end is not None:
            en += f"; the migration ran {self.at(done.start)}–{self.at(done.end)}"
            it += f"; la migrazione è durata dalle {self.at(done.start)} alle {self.at(done.end)}"
            if not done.ok:
                en, it = en + " and failed", it + " ed è fallita"
        return {"en": en, "it": it}

    def migration(self, g: _Guest, e: _Ev) -> dict[str, str]:
        en = f"Migration of {g.en} from {e.node} at {self.at(e.start)} (task by {e.user})"
        it = f"Migrazione {g.it_of} dal nodo {e.node} alle {self.at(e.start)} (attività di {e.user})"
        if not e.ok:
            en, it = en + ", which failed", it + ", fallita"
        return {"en": en, "it": it}

    def stop(self, g: _Guest, e: _Ev, back: _Ev | None) -> dict[str, str]:
        a = "a" if g.fem else "o"
        en = f"{self._cap(g.en)} was {_VERB_EN[e.type]} on {e.node} at {self.at(e.start)} by {e.user}"
        it = (f"{self._cap(g.it)} è stat{a} {_VERB_IT[e.type].format(a=a)} sul nodo {e.node} alle "
              f"{self.at(e.start)} da {e.user}")
        if back is not None:
            en += f", started again at {self.at(back.start)}"
            it += f", e riavviat{a} alle {self.at(back.start)}"
        return {"en": en, "it": it}

    def restart(self, g: _Guest, e: _Ev, node: str | None = None) -> dict[str, str]:
        a = "a" if g.fem else "o"
        if e.type in _STARTS:
            where = node or e.node
            via = " through HA" if e.type == "hastart" else ""
            return {"en": f"{self._cap(g.en)} was started on {where} at {self.at(e.start)} by {e.user}{via}",
                    "it": f"{self._cap(g.it)} è stat{a} avviat{a} sul nodo {where} alle {self.at(e.start)} da "
                          f"{e.user}" + (" tramite HA" if via else "")}
        return {"en": f"{self._cap(g.en)} was {_VERB_EN[e.type]} on {e.node} at {self.at(e.start)} by {e.user}",
                "it": f"{self._cap(g.it)} è stat{a} {_VERB_IT[e.type].format(a=a)} sul nodo {e.node} alle "
                      f"{self.at(e.start)} da {e.user}"}

    def recovery(self, g: _Guest, e: _Ev, boot: _Ev | None) -> dict[str, str]:
        a = "a" if g.fem else "o"
        en = (f"{self._cap(g.en)} was started on {e.node} at {self.at(e.start)} by {e.user} (HA or a node boot) "
              "with no stop, shutdown or migration before it: its node most likely failed")
        it = (f"{self._cap(g.it)} è stat{a} avviat{a} sul nodo {e.node} alle {self.at(e.start)} da {e.user} (HA o "
              "l'avvio di un nodo) senza arresti, spegnimenti o migrazioni prima: con ogni probabilità il suo nodo "
              "si è guastato")
        if boot is not None:
            en += f"; node {boot.node} restarted at {self.at(boot.start)}"
            it += f"; il nodo {boot.node} è ripartito alle {self.at(boot.start)}"
        return {"en": en, "it": it}

    def node(self, e: _Ev) -> dict[str, str]:
        when = self.at(e.start)
        if e.type == "startall":
            return {"en": f"Node {e.node} booted at {when} (its guests were started)",
                    "it": f"Il nodo {e.node} è stato avviato alle {when} (con le sue istanze)"}
        if e.type == "stopall":
            return {"en": f"Node {e.node} shut down at {when} (its guests were stopped)",
                    "it": f"Il nodo {e.node} è stato spento alle {when} (con le sue istanze)"}
        return {"en": f"All guests migrated away from node {e.node} at {when} (task by {e.user})",
                "it": f"Tutte le istanze migrate via dal nodo {e.node} alle {when} (attività di {e.user})"}
