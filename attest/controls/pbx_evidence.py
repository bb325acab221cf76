"""The PBX analysis as the controls see it: for a tenant, every configured PBX whose inventory
lists it, analysed from the newest fresh `pbx.tree` record (rebuilt from its artifacts), once per
collection however many tenants and controls ask."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from importlib import resources

import yaml

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
    """Every PBX of the tenant, analysed; or why one of them cannot be judged -- including a PBX
    whose inventory lists the tenant but where no phone matches its entry (a typo, or phones
    renamed): nothing there is known to be the tenant's, so nothing can be proven for it."""
    found = []
    for source in ctx.config.asterisk_sources(tenant.id):
        picked = ctx.pick(source.id, ctx.max_age, SECTIONS, partial(_analyse, ctx, source))
        if isinstance(picked, EvidenceGap):
            return picked
        pbx = picked[1]
        if not any(t["id"] == tenant.id for t in pbx.analysis.tenants):
            entry = source.tenants[tenant.id]
            listed = ", ".join([*entry.extensions, *entry.endpoints]) or "nothing"
            return EvidenceGap({
                "en": f"No phone of PBX {source.id} matches this customer's inventory entry ({listed}).",
                "it": f"Nessun telefono del centralino {source.id} corrisponde alla voce di inventario di questo "
                      f"cliente ({listed}).",
            })
        found.append(pbx)
    return found


def _check_words() -> dict[str, LocalizedText]:
    text = resources.files("attest.controls").joinpath("pbx_checks.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return {str(k): {"en": str(v["en"]), "it": str(v["it"])} for k, v in data.items()}


# Each PBX check in plain words, for the attestation: attest/controls/pbx_checks.yaml.
CHECK_WORDS: dict[str, LocalizedText] = _check_words()

MAX_FINDINGS_PER_CHECK = 3


def finding_fact(result: CheckResult, finding: Finding, tenant: str) -> LocalizedText:
    """One finding as this tenant may read it: plain words, then the technical path."""
    words = CHECK_WORDS.get(result.id, {"en": result.title, "it": result.title})
    # The finding itself is technical English (configuration names, file:line, the call path);
    # the Italian text gives the meaning in Italian and keeps the detail as it is, marked as such.
    message, steps = finding.for_tenant(tenant, "en")
    where = f" ({finding.file}:{finding.line})" if finding.file and finding.line else ""
    path = " → ".join(steps)
    return {
        "en": f"{result.id} – {words['en']}: {message}{where}." + (f" Path: {path}" if path else ""),
        "it": f"{result.id} – {words['it']}{where}. Dettaglio tecnico (in inglese): {message}."
              + (f" Path: {path}" if path else ""),
    }
