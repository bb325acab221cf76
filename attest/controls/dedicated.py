"""Duty "dedicated": each customer's PBX runs on instances of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from attest.attestation import LocalizedText, Verdict
from attest.config import TenantConfig
from attest.engine import CheckContext, CheckOutcome, EvidenceGap, Snapshot
from evidence.log import StoredRecord

# What the evidence token must hold for "I saw every guest and every pool" to be true: PVE
# silently leaves out of its lists whatever the token may not audit. `/access/permissions`
# reports effective privileges on the top-level paths and on every path with an ACL entry, so a
# narrower entry that withholds a privilege shows up there (a NoAccess entry, which removes all
# privileges, does not: see README, "Known limit").
REQUIRED_VISIBILITY = {"VM.Audit": "/vms", "Pool.Audit": "/pool"}


def claims(tenant: TenantConfig, guest: dict[str, Any], pools: set[str]) -> list[str]:
    """How *tenant*'s recognition rules pick up *guest* (in *pools*): e.g. ["tag t-acme", "pool acme"].
    Proxmox stores tags in lower case; the config's tags are lowered when loaded."""
    tags = {str(t).lower() for t in guest.get("tags", [])}
    found = [f"tag {t}" for t in tenant.match.proxmox_tags if t in tags]
    found += [f"pool {p}" for p in tenant.match.proxmox_pools if p in pools]
    return found


def missing_visibility(permissions: dict[str, Any]) -> list[str]:
    """What keeps the token from seeing every guest and pool, in words that name no pool or guest
    (a pool's name is often a customer's)."""
    def has(path: str, privilege: str) -> bool:
        return bool(int((permissions.get(path) or {}).get(privilege, 0) or 0))

    missing = [f"{privilege} on {path}" for privilege, path in REQUIRED_VISIBILITY.items() if not has(path, privilege)]
    for privilege, top in REQUIRED_VISIBILITY.items():
        narrower = [p for p in permissions if p.startswith(top + "/") and not has(p, privilege)]
        if narrower:
            missing.append(f"{privilege} on {len(narrower)} narrower path(s) below {top}")
    return missing


@dataclass
class _Instance:
    record: StoredRecord
    guest: dict[str, Any]
    own: list[str]
    shared: bool  # also claimed by another tenant

    def label(self) -> str:
        kind = "VM" if self.guest["type"] == "qemu" else "CT"
        return f"{kind} {self.guest['vmid']} '{self.guest.get('name') or '?'}'"


def _gap(reason: LocalizedText, evidence: list[StoredRecord]) -> CheckOutcome:
    return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, reason, evidence=evidence)


def dedicated_instance(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    sources = ctx.source_ids("proxmox_ve")
    if not sources:
        return _gap({"en": "No virtualisation platform is configured as an evidence source.",
                     "it": "Nessuna piattaforma di virtualizzazione è configurata come fonte di evidenze."}, [])
    instances: list[_Instance] = []
    used: list[StoredRecord] = []
    for source_id in sources:
        snap = ctx.snapshot(source_id, ctx.max_age)
        if isinstance(snap, EvidenceGap):
            return _gap(snap.reason, used)
        found = _instances(ctx, tenant, snap)
        used += found.used
        if found.gap is not None:
            return _gap(found.gap, used)
        instances += found.instances
    if not instances:
        return CheckOutcome(Verdict.FAIL, {
            "en": "No PBX instance assigned to this customer was found on the provider's platform.",
            "it": "Sulla piattaforma del fornitore non è stata trovata alcuna istanza PBX assegnata a questo cliente.",
        }, evidence=used)
    facts = [_fact(i, ctx) for i in instances]
    shared = [i for i in instances if i.shared]
    if shared:
        names = ", ".join(i.label() for i in shared)
        return CheckOutcome(Verdict.FAIL, {
            "en": f"{names} {'is' if len(shared) == 1 else 'are'} also assigned to another customer, so this "
                  "customer's phone system is not on a dedicated instance.",
            "it": f"{names} {'è assegnata' if len(shared) == 1 else 'sono assegnate'} anche a un altro cliente: il "
                  "centralino di questo cliente non è su un'istanza dedicata.",
        }, facts, used)
    n = len(instances)
    return CheckOutcome(Verdict.PASS, {
        "en": f"{n} PBX instance{'s' if n > 1 else ''} found for this customer, none assigned to any other customer.",
        "it": f"{n} istanz{'e' if n > 1 else 'a'} PBX trovat{'e' if n > 1 else 'a'} per questo cliente, nessuna "
              "assegnata ad altri clienti.",
    }, facts, used)


@dataclass
class _Found:
    instances: list[_Instance] = field(default_factory=list)
    used: list[StoredRecord] = field(default_factory=list)
    gap: LocalizedText | None = None


def _pools_of(records: list[StoredRecord]) -> dict[str, set[str]]:
    """guest id ("qemu/101") -> pools it is in, from the pool records' member lists (the `pool`
    field of a guest is left out by PVE when the token may not audit that pool)."""
    pools: dict[str, set[str]] = {}
    for rec in records:
        for member in rec.payload.get("members", []):
            pools.setdefault(str(member), set()).add(str(rec.payload.get("poolid")))
    return pools


def _instances(ctx: CheckContext, tenant: TenantConfig, snap: Snapshot) -> _Found:
    """The tenant's instances in one source's snapshot, or why they cannot be known."""
    found = _Found()
    permissions = snap.one("proxmox.permissions")
    inventory = snap.one("proxmox.inventory")
    if permissions is None or inventory is None:
        found.gap = {"en": f"The collection from {snap.source_id} lacks its inventory or permission record.",
                     "it": f"La raccolta da {snap.source_id} non contiene l'inventario o i permessi."}
        return found
    found.used += [snap.run_record, inventory, permissions]
    missing = missing_visibility(permissions.payload.get("permissions") or {})
    if missing:
        found.gap = {
            "en": f"The evidence token for {snap.source_id} could not see every instance (it lacks "
                  f"{'; '.join(missing)}), so other customers' assignments cannot be ruled out.",
            "it": f"Il token di raccolta per {snap.source_id} non vedeva tutte le istanze (mancano "
                  f"{'; '.join(missing)}): non si può escludere l'assegnazione ad altri clienti.",
        }
        return found
    prefix = f"{snap.source_id}/"
    guests = {r.subject.removeprefix(prefix): r for r in snap.of_kind("proxmox.guest")}
    unread = sorted(set(inventory.payload.get("guests", [])) - set(guests))
    if unread:
        found.gap = {
            "en": f"{len(unread)} instance(s) listed by {snap.source_id} have no configuration record.",
            "it": f"{len(unread)} istanze elencate da {snap.source_id} non hanno un record di configurazione.",
        }
        return found
    pool_records = snap.of_kind("proxmox.pool")
    pools = _pools_of(pool_records)
    found.used += [r for r in pool_records if r.payload.get("poolid") in tenant.match.proxmox_pools]
    others = [t for t in ctx.tenants if t.id != tenant.id]

    def judge(record: StoredRecord) -> _Instance | None:
        guest = record.payload
        if record.kind != "proxmox.guest" or guest.get("template"):
            return None  # a template runs no calls; it is a disk image, not an instance
        gid = record.subject.removeprefix(prefix)
        in_pools = pools.get(gid, set()) | ({str(guest["pool"])} if guest.get("pool") else set())
        own = claims(tenant, guest, in_pools)
        if not own:
            return None
        return _Instance(record, guest, own, any(claims(o, guest, in_pools) for o in others))

    by_subject = {r.subject: i for r in guests.values() if (i := judge(r)) is not None}
    # A later collection that did not complete can never prove an instance dedicated, but an
    # instance it shows shared is shared: such records can only turn the verdict into a fail.
    for record in snap.later_partial:
        later = judge(record)
        if later is not None and later.shared:
            by_subject[record.subject] = later
    found.instances = list(by_subject.values())
    found.used += [i.record for i in found.instances]
    return found


def _fact(instance: _Instance, ctx: CheckContext) -> LocalizedText:
    g = instance.guest
    site = next((s for s in ctx.config.model.sites if s.id == g.get("site")), None)
    where_en = f"node {g.get('node')}" + (f" ({site.name}, {site.country})" if site else "")
    where_it = f"nodo {g.get('node')}" + (f" ({site.name}, {site.country})" if site else "")
    how = ", ".join(instance.own)
    if instance.shared:
        return {"en": f"{instance.label()} on {where_en}: assigned to this customer ({how}) and also to another "
                      "customer.",
                "it": f"{instance.label()} su {where_it}: assegnata a questo cliente ({how}) e anche a un altro "
                      "cliente."}
    return {"en": f"{instance.label()} on {where_en}: assigned to this customer only ({how}).",
            "it": f"{instance.label()} su {where_it}: assegnata solo a questo cliente ({how})."}

