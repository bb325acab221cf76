"""SLA-01's "cause where known": what the Proxmox task log shows around each outage of a tenant's
instances (`proxmox.guest_events` of its guests, `proxmox.node_events` of the nodes), read through
the same tenant view as every infrastructure control, and matched by `attest.sla.causes`.

Causes only inform; they never change the verdict. So evidence that cannot be read here is not a
gap in SLA-01: the outages simply say "not known", and a fact says why. An empty task log near an
outage reads "not known" too — a token without Sys.Audit on the nodes sees an empty list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from attest.attestation import LocalizedText
from attest.config import TenantConfig
from attest.controls.instances import NODE_AUDIT, tenant_view
from attest.engine import CheckContext, EvidenceGap
from attest.sla.causes import GuestEvents, attribute
from attest.sla.engine import SlaResult
from evidence.log import StoredRecord

SECTION = "events"
UNKNOWN: LocalizedText = {"en": "not known from the task log", "it": "non nota dal registro delle attività"}


@dataclass
class OutageCauses:
    by_outage: dict[tuple[str, int], LocalizedText] = field(default_factory=dict)  # (instance, outage #) -> text
    facts: list[LocalizedText] = field(default_factory=list)
    evidence: list[StoredRecord] = field(default_factory=list)

    def of(self, instance: str, index: int) -> LocalizedText:
        return self.by_outage.get((instance, index), UNKNOWN)


def outage_causes(ctx: CheckContext, tenant: TenantConfig, results: Sequence[SlaResult], time_zone: str
                  ) -> OutageCauses:
    found = OutageCauses()
    if not any(r.outages for r in results) or not ctx.source_ids("proxmox_ve"):
        return found
    view = tenant_view(ctx, tenant, (SECTION,), NODE_AUDIT)
    if isinstance(view, EvidenceGap):
        found.facts.append({
            "en": f"The causes of the outages could not be looked up in the Proxmox task log: {view.reason['en']}",
            "it": "Le cause delle interruzioni non si sono potute cercare nel registro delle attività di Proxmox: "
                  f"{view.reason['it']}"})
        return found
    guests: list[GuestEvents] = []
    node_events: dict[str, list[dict[str, object]]] = {}
    used: list[StoredRecord] = []
    for source, instance in view.instances:
        rec = source.guest_record("proxmox.guest_events", instance, "/events")
        if rec is None:
            continue
        used.append(rec)
        guests.append(GuestEvents(instance.vmid, instance.guest.get("name"), str(instance.guest.get("type")),
                                  instance.node, rec.payload.get("events") or []))
        for node_rec in source.provider("proxmox.node_events"):
            node_events.setdefault(str(node_rec.payload.get("node")), []).extend(node_rec.payload.get("events") or [])
            used.append(node_rec)
    if not guests:
        found.facts.append({"en": "The task log holds no history for this customer's instances: the causes of the "
                                  "outages are not known.",
                            "it": "Il registro delle attività non contiene la storia delle istanze di questo cliente: "
                                  "le cause delle interruzioni non sono note."})
        return found
    cited: set[int] = set()
    for r in results:
        for index, causes in enumerate(attribute(list(r.outages), guests, node_events, time_zone=time_zone)):
            if causes:
                found.by_outage[(r.instance, index)] = {lang: "; ".join(c.text[lang] for c in causes)
                                                        for lang in ("en", "it")}
                cited |= {g.idx for g in used if _mentions(g, causes)}
    found.evidence = [g for g in used if g.idx in cited]
    return found


def _mentions(record: StoredRecord, causes: Sequence[object]) -> bool:
    """Whether *record* holds one of the tasks the causes rest on (only those are cited)."""
    upids = {u for c in causes for u in getattr(c, "upids", ())}
    return any(e.get("upid") in upids for e in record.payload.get("events") or [])
