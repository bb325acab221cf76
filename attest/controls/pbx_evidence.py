"""The PBX analysis as the controls see it: for a tenant, every configured PBX whose inventory
lists it, analysed from the newest fresh `pbx.tree` record (rebuilt from its artifacts), once per
collection however many tenants and controls ask."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from attest.attestation import LocalizedText
from attest.config import AsteriskSource, TenantConfig
from attest.engine import CheckContext, EvidenceGap, Snapshot
from attest.pbx.analysis import Analysis, analyse
from attest.pbx.inventory import Inventory, InventoryError
from attest.pbx.result import CheckResult, Finding
from collectors.pbx.evidence import SECTION, TREE_KIND, dump_from_payload
from evidence.log import StoredRecord

SECTIONS = (SECTION,)


@dataclass
class PbxEvidence:
    source: AsteriskSource
    snapshot: Snapshot
    record: StoredRecord
    analysis: Analysis


def _analyse(ctx: CheckContext, source: AsteriskSource, snap: Snapshot) -> PbxEvidence | EvidenceGap:
    cache: dict[tuple[str, int], PbxEvidence | EvidenceGap] = ctx.__dict__.setdefault("_pbx_analyses", {})
    key = (source.id, snap.run_id)
    if key not in cache:
        record = snap.one(TREE_KIND)
        if record is None:
            cache[key] = EvidenceGap({"en": f"The collection from {source.id} holds no PBX configuration.",
                                      "it": f"La raccolta da {source.id} non contiene la configurazione del "
                                            "centralino."})
        else:
            try:
                inventory = Inventory.from_mapping(
                    {"tenants": {t: e.model_dump() for t, e in source.tenants.items()}},
                    f"sources.{source.id}.tenants")
            except InventoryError as exc:
                cache[key] = EvidenceGap({"en": f"The tenant inventory of {source.id} is unusable: {exc}.",
                                          "it": f"L'inventario dei clienti di {source.id} non è utilizzabile: "
                                                f"{exc}."})
            else:
                dump = dump_from_payload(record.payload, ctx.log.get_artifact)
                cache[key] = PbxEvidence(source, snap, record, analyse(dump, inventory))
    return cache[key]


def pbx_evidence(ctx: CheckContext, tenant: TenantConfig) -> list[PbxEvidence] | EvidenceGap:
    """Every PBX of the tenant, analysed; or why one of them cannot be judged."""
    found = []
    for source in ctx.config.asterisk_sources(tenant.id):
        picked = ctx.pick(source.id, ctx.max_age, SECTIONS, partial(_analyse, ctx, source))
        if isinstance(picked, EvidenceGap):
            return picked
        found.append(picked[1])
    return found


# Each PBX check in plain words, for the attestation.
CHECK_WORDS: dict[str, LocalizedText] = {
    "INST-01": {"en": "the PBX also has phones of another tenant",
                "it": "il centralino ha anche telefoni di un altro cliente"},
    "DIAL-01": {"en": "another tenant's phones can be called directly",
                "it": "i telefoni di un altro cliente si possono chiamare direttamente"},
    "DIAL-02": {"en": "the phones share a dialling plan with another tenant",
                "it": "i telefoni condividono il piano di numerazione con un altro cliente"},
    "PICK-01": {"en": "ringing calls can be answered across tenants with the pickup code (*8)",
                "it": "le chiamate in arrivo si possono rispondere tra clienti diversi con il codice di risposta (*8)"},
    "PICK-02": {"en": "another tenant's ringing calls can be answered with a directed pickup code",
                "it": "le chiamate in arrivo di un altro cliente si possono rispondere con un codice di risposta "
                      "diretta"},
    "PICK-03": {"en": "another tenant's channels can be picked up by name",
                "it": "i canali di un altro cliente si possono rispondere per nome"},
    "SPY-01": {"en": "live calls can be listened to across tenants",
               "it": "le chiamate in corso si possono ascoltare tra clienti diversi"},
    "SPY-02": {"en": "the listening groups do not keep tenants apart",
               "it": "i gruppi di ascolto non separano i clienti"},
    "SPY-03": {"en": "another tenant's extensions can be listened to",
               "it": "gli interni di un altro cliente si possono ascoltare"},
    "SPY-04": {"en": "another tenant's active calls can be taken over or joined",
               "it": "le chiamate attive di un altro cliente si possono prendere o unire"},
    "SPY-05": {"en": "paging can speak into another tenant's phones",
               "it": "la cercapersone può parlare nei telefoni di un altro cliente"},
    "HINT-01": {"en": "another tenant can see when these phones ring or are busy",
                "it": "un altro cliente può vedere quando questi telefoni squillano o sono occupati"},
    "VM-01": {"en": "voicemail boxes are kept together with another tenant's",
              "it": "le caselle vocali sono insieme a quelle di un altro cliente"},
    "VM-02": {"en": "the voicemail login offers another tenant's mailboxes",
              "it": "l'accesso alla segreteria offre le caselle di un altro cliente"},
    "VM-03": {"en": "the dial-by-name directory lists another tenant's people",
              "it": "la rubrica per nome elenca le persone di un altro cliente"},
    "PARK-01": {"en": "parked calls can be picked up by another tenant",
                "it": "le chiamate parcheggiate possono essere riprese da un altro cliente"},
    "PARK-02": {"en": "the default parking lot is shared with another tenant",
                "it": "il parcheggio predefinito è condiviso con un altro cliente"},
    "PAGE-01": {"en": "phones can be made to answer by themselves (intercom) across tenants",
                "it": "i telefoni si possono far rispondere da soli (interfono) tra clienti diversi"},
    "CONF-01": {"en": "conference rooms are shared with another tenant",
                "it": "le sale conferenza sono condivise con un altro cliente"},
    "CDR-01": {"en": "call records are stored together with another tenant's",
               "it": "i registri delle chiamate sono conservati insieme a quelli di un altro cliente"},
    "CDR-02": {"en": "call records carry no key that separates tenants",
               "it": "i registri delle chiamate non hanno una chiave che separi i clienti"},
    "CDR-03": {"en": "call events or recordings are stored together with another tenant's",
               "it": "gli eventi o le registrazioni delle chiamate sono conservati insieme a quelli di un altro "
                     "cliente"},
}

MAX_FINDINGS_PER_CHECK = 3


def finding_fact(result: CheckResult, finding: Finding, tenant: str) -> LocalizedText:
    """One finding as this tenant may read it: plain words, then the technical path."""
    words = CHECK_WORDS.get(result.id, {"en": result.title, "it": result.title})
    text: dict[str, str] = {}
    for lang in ("en", "it"):
        message, steps = finding.for_tenant(tenant, lang)
        where = f" ({finding.file}:{finding.line})" if finding.file and finding.line else ""
        path = (" Path: " if lang == "en" else " Percorso: ") + " → ".join(steps) if steps else ""
        text[lang] = f"{result.id} – {words[lang]}: {message}{where}.{path}"
    return text
