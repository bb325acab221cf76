"""Finding a tenant's instances in a Proxmox VE collection, shared by every duty.

An instance is a guest (VM or container, not a template) that the tenant's recognition rules
claim, by Proxmox tag or pool. Every infrastructure control first finds them here, then judges
the tenant's own records about them; nothing else of the collection is cited.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from attest.attestation import LocalizedText, Verdict
from attest.config import TenantConfig
from attest.engine import CheckContext, CheckOutcome, EvidenceGap, Snapshot
from evidence.log import StoredRecord

Privileges = Sequence[tuple[str, str]]  # (privilege, path)

# What the evidence token must hold for "I saw every guest and every pool" to be true: PVE
# silently leaves out of its lists whatever the token may not audit. `/access/permissions`
# reports effective privileges on the top-level paths and on every path with an ACL entry, so a
# narrower entry that withholds a privilege shows up there (a NoAccess entry, which removes all
# privileges, does not: see README, "Known limit").
REQUIRED_VISIBILITY: Privileges = (("VM.Audit", "/vms"), ("Pool.Audit", "/pool"))
# Cluster-wide configuration (HA, backup jobs, cluster firewall, cluster status) needs Sys.Audit on /.
SYS_AUDIT: Privileges = (("Sys.Audit", "/"),)
# Storage definitions and backup volumes need Datastore.Audit on the storages.
DATASTORE_AUDIT: Privileges = (("Datastore.Audit", "/storage"),)
# Backup volumes are listed only to a token that may back the guest up: pve-storage shows a
# backup volume with Datastore.AllocateSpace on the storage and VM.Backup on the guest (or
# Datastore.Allocate); an auditor without them gets an empty list, not an error.
BACKUP_LISTING: Privileges = (("Datastore.AllocateSpace", "/storage"), ("VM.Backup", "/vms"))
# Node task lists (vzdump history) need Sys.Audit on the nodes.
NODE_AUDIT: Privileges = (("Sys.Audit", "/nodes"),)


def claims(tenant: TenantConfig, guest: dict[str, Any], pools: set[str]) -> list[str]:
    """How *tenant*'s recognition rules pick up *guest* (in *pools*): e.g. ["tag t-acme", "pool acme"].
    Proxmox stores tags in lower case; the config's tags are lowered when loaded."""
    tags = {str(t).lower() for t in guest.get("tags") or []}
    found = [f"tag {t}" for t in tenant.match.proxmox_tags if t in tags]
    found += [f"pool {p}" for p in tenant.match.proxmox_pools if p in pools]
    return found


def missing_privileges(permissions: dict[str, Any], required: Privileges) -> list[str]:
    """What the token lacks of *required*, in words that name no pool or guest (a pool's name is
    often a customer's): on the path itself, or withheld on narrower paths below it."""
    def has(path: str, privilege: str) -> bool:
        return bool(int((permissions.get(path) or {}).get(privilege, 0) or 0))

    missing = [f"{privilege} on {path}" for privilege, path in required if not has(path, privilege)]
    for privilege, top in required:
        below = top.rstrip("/") + "/"
        narrower = [p for p in permissions if p.startswith(below) and p != top and not has(p, privilege)]
        if narrower and top != "/":  # below "/" is every path: top-level paths are checked by name
            missing.append(f"{privilege} on {len(narrower)} narrower path(s) below {top}")
    return missing


def missing_visibility(permissions: dict[str, Any]) -> list[str]:
    return missing_privileges(permissions, REQUIRED_VISIBILITY)


def token_lacks(snap: Snapshot, required: Privileges) -> list[str]:
    """`missing_privileges` of *snap*'s permission record (none: every privilege is missing),
    once per collection: the record lists a path per pool and guest, and every check of every
    tenant asks."""
    def build() -> list[str]:
        permissions = snap.one("proxmox.permissions")
        return missing_privileges((permissions.payload.get("permissions") or {}) if permissions else {}, required)

    return list(snap.derived(("missing_privileges", tuple(required)), build))


def pools_of(records: list[StoredRecord]) -> dict[str, set[str]]:
    """guest id ("qemu/101") -> pools it is in, from the pool records' member lists (the `pool`
    field of a guest is left out by PVE when the token may not audit that pool)."""
    pools: dict[str, set[str]] = {}
    for rec in records:
        for member in rec.payload.get("members") or []:
            pools.setdefault(str(member), set()).add(str(rec.payload.get("poolid")))
    return pools


def snap_pools(snap: Snapshot) -> dict[str, set[str]]:
    """`pools_of` the pool records of *snap*, once per collection (shared: do not change it)."""
    return snap.derived("pools_of", lambda: pools_of(snap.of_kind("proxmox.pool")))


@dataclass
class Instance:
    record: StoredRecord  # its proxmox.guest record
    guest: dict[str, Any]
    own: list[str]  # how the tenant claims it
    shared: bool  # also claimed by another tenant

    @property
    def subject(self) -> str:
        return self.record.subject

    @property
    def source_id(self) -> str:
        return self.record.source

    @property
    def gid(self) -> str:
        """"qemu/101": how inventories, HA and backup records name the guest."""
        return f"{self.guest['type']}/{self.guest['vmid']}"

    @property
    def vmid(self) -> int:
        return int(self.guest["vmid"])

    @property
    def node(self) -> str:
        return str(self.guest.get("node") or "")

    def label(self) -> str:
        kind = "VM" if self.guest["type"] == "qemu" else "CT"
        return f"{kind} {self.guest['vmid']} '{self.guest.get('name') or '?'}'"


@dataclass
class Found:
    instances: list[Instance] = field(default_factory=list)
    used: list[StoredRecord] = field(default_factory=list)
    gap: LocalizedText | None = None


def _claim(tenant: TenantConfig, others: Callable[[], list[TenantConfig]], record: StoredRecord,
           pools: dict[str, set[str]]) -> Instance | None:
    guest = record.payload
    if record.kind != "proxmox.guest" or guest.get("template"):
        return None  # a template runs no calls; it is a disk image, not an instance
    gid = f"{guest.get('type')}/{guest.get('vmid')}"
    in_pools = pools.get(gid, set()) | ({str(guest["pool"])} if guest.get("pool") else set())
    own = claims(tenant, guest, in_pools)
    if not own:
        return None
    return Instance(record, guest, own, any(claims(o, guest, in_pools) for o in others()))


def claimer(ctx: CheckContext, tenant: TenantConfig, snap: Snapshot) -> Callable[[StoredRecord], Instance | None]:
    """A function telling whether a guest record (of *snap*'s source) is one of *tenant*'s instances."""
    pools = snap_pools(snap)
    # The other tenants only for a guest this tenant claims: listing them for every call made
    # each tenant's check cost grow with the number of tenants.
    return lambda record: _claim(tenant, lambda: [t for t in ctx.tenants if t.id != tenant.id], record, pools)


def find_instances(ctx: CheckContext, tenant: TenantConfig, snap: Snapshot) -> Found:
    """The tenant's instances in one source's snapshot, or why they cannot be known: a token
    that could not see every guest and pool, or a listed guest without its record."""
    found = Found()
    permissions = snap.one("proxmox.permissions")
    inventory = snap.one("proxmox.inventory")
    if permissions is None or inventory is None:
        found.gap = {"en": f"The collection from {snap.source_id} lacks its inventory or permission record.",
                     "it": f"La raccolta da {snap.source_id} non contiene l'inventario o i permessi."}
        return found
    found.used += [snap.run_record, inventory, permissions]
    missing = token_lacks(snap, REQUIRED_VISIBILITY)
    if missing:
        found.gap = {
            "en": f"The evidence token for {snap.source_id} could not see every instance (it lacks "
                  f"{'; '.join(missing)}), so other customers' assignments cannot be ruled out.",
            "it": f"Il token di raccolta per {snap.source_id} non vedeva tutte le istanze (mancano "
                  f"{'; '.join(missing)}): non si può escludere l'assegnazione ad altri clienti.",
        }
        return found
    guests, unread = snap.derived("guests", lambda: _guests(snap, inventory))
    if unread:
        found.gap = {
            "en": f"{len(unread)} instance(s) listed by {snap.source_id} have no configuration record.",
            "it": f"{len(unread)} istanze elencate da {snap.source_id} non hanno un record di configurazione.",
        }
        return found
    by_pool = snap.derived("pools_by_id", lambda: _pools_by_id(snap))
    found.used += sorted((r for p in set(tenant.match.proxmox_pools) for r in by_pool.get(p, ())), key=lambda r: r.idx)
    found.instances = list(_claimed(ctx, snap, guests).get(tenant.id, ()))
    found.used += [i.record for i in found.instances]
    return found


def _guests(snap: Snapshot, inventory: StoredRecord) -> tuple[dict[str, StoredRecord], list[str]]:
    """("qemu/101" -> its guest record, the listed guests without a record) of one collection."""
    prefix = f"{snap.source_id}/"
    guests = {r.subject.removeprefix(prefix): r for r in snap.of_kind("proxmox.guest")}
    # A listed guest without its record could be this tenant's: its owner is unknown.
    unread = sorted(set(inventory.payload.get("guests") or []) - set(guests))
    return guests, unread


def _pools_by_id(snap: Snapshot) -> dict[str, list[StoredRecord]]:
    """pool id -> its pool records, in log order (a tenant cites the pools it is matched by)."""
    index: dict[str, list[StoredRecord]] = {}
    for r in snap.of_kind("proxmox.pool"):
        poolid = r.payload.get("poolid")
        if isinstance(poolid, str):  # only a string can equal a configured pool name
            index.setdefault(poolid, []).append(r)
    return index


def _claimed(ctx: CheckContext, snap: Snapshot, guests: dict[str, StoredRecord]) -> dict[str, list[Instance]]:
    """tenant id -> its instances in *snap*, in guest order, computed once per collection for every
    tenant (and kept on the context): asking each tenant's rules of every guest, for every control,
    made an evaluation grow with tenants × guests (a 1,000-tenant fleet). The same claims() decide,
    so the instances are those `claimer` finds."""
    cache: dict[tuple[str, int, int], dict[str, list[Instance]]] = ctx.__dict__.setdefault("_claimed_cache", {})
    key = (snap.source_id, snap.run_id, snap.run_record.idx)
    if key in cache:
        return cache[key]
    by_tag: dict[str, list[TenantConfig]] = {}
    by_pool: dict[str, list[TenantConfig]] = {}
    for t in ctx.tenants:
        for tag in t.match.proxmox_tags:
            by_tag.setdefault(tag, []).append(t)
        for pool in t.match.proxmox_pools:
            by_pool.setdefault(pool, []).append(t)
    pools = snap_pools(snap)
    out: dict[str, list[Instance]] = {}
    for record in guests.values():
        guest = record.payload
        if record.kind != "proxmox.guest" or guest.get("template"):
            continue  # a template runs no calls; it is a disk image, not an instance
        gid = f"{guest.get('type')}/{guest.get('vmid')}"
        in_pools = pools.get(gid, set()) | ({str(guest["pool"])} if guest.get("pool") else set())
        tags = {str(t).lower() for t in guest.get("tags") or []}
        candidates = {t.id: t for tag in tags for t in by_tag.get(tag, ())}
        candidates |= {t.id: t for pool in in_pools for t in by_pool.get(pool, ())}
        owners = [(t, own) for t in candidates.values() if (own := claims(t, guest, in_pools))]
        for t, own in owners:
            out.setdefault(t.id, []).append(Instance(record, guest, own, len(owners) > 1))
    cache[key] = out
    return out


# --- the view every infrastructure control starts from ---------------------------------------


@dataclass
class SourceView:
    """One Proxmox VE source's usable collection and the tenant's instances in it."""

    snap: Snapshot
    instances: list[Instance]
    used: list[StoredRecord]

    def guest_record(self, kind: str, instance: Instance, suffix: str = "") -> StoredRecord | None:
        """The record of *kind* about *instance* (subject = the guest's, plus *suffix*)."""
        return self.snap.record(kind, instance.subject + suffix)

    def provider(self, kind: str) -> list[StoredRecord]:
        return self.snap.of_kind(kind)


@dataclass
class TenantView:
    sources: list[SourceView]

    @property
    def instances(self) -> list[tuple[SourceView, Instance]]:
        return [(v, i) for v in self.sources for i in v.instances]

    @property
    def used(self) -> list[StoredRecord]:
        return [r for v in self.sources for r in v.used]


# Extra subjects of interest for a source view, beyond the tenant's guests and their nodes
# (e.g. the nodes HA may move a guest to).
ExtraSubjects = Callable[[Snapshot, list[Instance]], Collection[str]]


def tenant_view(ctx: CheckContext, tenant: TenantConfig, sections: Sequence[str], privileges: Privileges = (),
                extra: ExtraSubjects | None = None) -> TenantView | EvidenceGap:
    """For every Proxmox VE source, the newest fresh collection that read the inventory and
    *sections* with nothing missing about the tenant's instances (or their nodes), by a token
    holding *privileges*; or the reason why one source has none."""
    sources = ctx.source_ids("proxmox_ve")
    if not sources:
        return EvidenceGap({"en": "No virtualisation platform is configured as an evidence source.",
                            "it": "Nessuna piattaforma di virtualizzazione è configurata come fonte di evidenze."})
    needed = ("inventory", *sections)
    views = []
    for source_id in sources:
        picked = ctx.pick(source_id, ctx.max_age, needed, lambda snap: _read(ctx, tenant, snap, needed,
                                                                             privileges, extra))
        if isinstance(picked, EvidenceGap):
            return picked
        views.append(picked[1])
    return TenantView(views)


def _read(ctx: CheckContext, tenant: TenantConfig, snap: Snapshot, sections: Sequence[str], privileges: Privileges,
          extra: ExtraSubjects | None) -> SourceView | EvidenceGap:
    found = find_instances(ctx, tenant, snap)
    if found.gap is not None:
        return EvidenceGap(found.gap)
    missing = token_lacks(snap, privileges)
    if missing:
        return EvidenceGap({
            "en": f"The evidence token for {snap.source_id} lacks {'; '.join(missing)}, so the configuration this "
                  "control judges could not be fully seen.",
            "it": f"Al token di raccolta per {snap.source_id} mancano {'; '.join(missing)}: la configurazione che "
                  "questo controllo valuta non era interamente visibile.",
        })
    subjects = {i.subject for i in found.instances} | {f"{snap.source_id}/node/{i.node}" for i in found.instances}
    if extra is not None:
        subjects |= set(extra(snap, found.instances))
    gap = snap.gap(sections, subjects)
    return gap if gap is not None else SourceView(snap, found.instances, found.used)


def no_instance(view: TenantView) -> CheckOutcome:
    """A tenant none of whose instances was found: nothing to judge, and no reason to say all is
    well. Insufficient evidence rather than not applicable: a customer is one because it has a
    PBX, so a missing instance is a gap in what we know (ISO-01 reports it as a failure)."""
    return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, {
        "en": "No PBX instance assigned to this customer was found on the provider's platform, so this control "
              "has nothing to judge (see the dedicated-instance control).",
        "it": "Sulla piattaforma del fornitore non è stata trovata alcuna istanza PBX assegnata a questo cliente: "
              "questo controllo non ha nulla da valutare (si veda il controllo sull'istanza dedicata).",
    }, evidence=view.used)


def insufficient(reason: LocalizedText, evidence: list[StoredRecord] | None = None,
                 facts: list[LocalizedText] | None = None) -> CheckOutcome:
    return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, reason, facts or [], evidence or [])


def dedupe(records: list[StoredRecord]) -> list[StoredRecord]:
    """Records in first-use order, each once."""
    seen: set[int] = set()
    out = []
    for r in records:
        if r.idx not in seen:
            seen.add(r.idx)
            out.append(r)
    return out
