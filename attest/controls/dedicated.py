"""Duty "dedicated": each customer's PBX runs on instances of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attest.attestation import LocalizedText, Verdict
from attest.config import TenantConfig
from attest.engine import CheckContext, CheckOutcome, EvidenceGap, Snapshot
from evidence.log import StoredRecord

# What the evidence token must hold for "I saw every guest and every pool" to be true: PVE
# silently leaves out of its lists whatever the token may not audit. `/access/permissions`
# reports effective (propagated) privileges on the top-level paths, so these are read there.
REQUIRED_VISIBILITY = {"VM.Audit": "/vms", "Pool.Audit": "/pool"}


def claims(tenant: TenantConfig, guest: dict[str, Any]) -> list[str]:
    """How *tenant*'s recognition rules pick up *guest*: e.g. ["tag t-acme", "pool acme"].
    Proxmox stores tags in lower case; the config's tags are lowered when loaded."""
    tags = {str(t).lower() for t in guest.get("tags", [])}
    found = [f"tag {t}" for t in tenant.match.proxmox_tags if t in tags]
    if guest.get("pool") and guest["pool"] in tenant.match.proxmox_pools:
        found.append(f"pool {guest['pool']}")
    return found


def missing_visibility(permissions: dict[str, Any]) -> list[str]:
    missing = []
    for privilege, path in REQUIRED_VISIBILITY.items():
        if not int((permissions.get(path) or {}).get(privilege, 0) or 0):
            missing.append(f"{privilege} on {path}")
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
        outcome = _collect_instances(ctx, tenant, snap, instances, used)
        if outcome is not None:
            return outcome
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


def _collect_instances(ctx: CheckContext, tenant: TenantConfig, snap: Snapshot, instances: list[_Instance],
                       used: list[StoredRecord]) -> CheckOutcome | None:
    permissions = snap.one("proxmox.permissions")
    inventory = snap.one("proxmox.inventory")
    if permissions is None or inventory is None:
        return _gap({"en": f"The collection from {snap.source_id} lacks its inventory or permission record.",
                     "it": f"La raccolta da {snap.source_id} non contiene l'inventario o i permessi."}, used)
    used += [snap.run_record, inventory, permissions]
    missing = missing_visibility(permissions.payload.get("permissions") or {})
    if missing:
        return _gap({
            "en": f"The evidence token for {snap.source_id} could not see every instance (it lacks "
                  f"{'; '.join(missing)}), so other customers' assignments cannot be ruled out.",
            "it": f"Il token di raccolta per {snap.source_id} non vedeva tutte le istanze (mancano "
                  f"{'; '.join(missing)}): non si può escludere l'assegnazione ad altri clienti.",
        }, used)
    guests = {r.subject.removeprefix(f"{snap.source_id}/"): r for r in snap.of_kind("proxmox.guest")}
    unread = sorted(set(inventory.payload.get("guests", [])) - set(guests))
    if unread:
        return _gap({
            "en": f"{len(unread)} instance(s) listed by {snap.source_id} have no configuration record.",
            "it": f"{len(unread)} istanze elencate da {snap.source_id} non hanno un record di configurazione.",
        }, used)
    others = [t for t in ctx.tenants if t.id != tenant.id]
    for record in guests.values():
        guest = record.payload
        if guest.get("template"):
            continue  # a template runs no calls; it is a disk image, not an instance
        own = claims(tenant, guest)
        if own:
            instances.append(_Instance(record, guest, own, any(claims(o, guest) for o in others)))
            used.append(record)
    # A later collection that did not complete can never prove an instance dedicated, but an
    # instance it shows shared is shared: such records can only turn the verdict into a fail.
    for record in snap.later_partial:
        guest = record.payload
        if record.kind != "proxmox.guest" or guest.get("template"):
            continue
        own = claims(tenant, guest)
        if own and any(claims(o, guest) for o in others):
            instances[:] = [i for i in instances if i.record.subject != record.subject]
            instances.append(_Instance(record, guest, own, True))
            used.append(record)
    return None


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

