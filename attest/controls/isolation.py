"""Duty "isolation": from the PBX's own configuration, no other tenant can reach this tenant's
calls (ISO-02) or call records (ISO-03). ISO-01 (dedicated.py) also uses the PBX's INST-01."""

from __future__ import annotations

from typing import Any

from attest.attestation import LocalizedText, Verdict
from attest.config import TenantConfig
from attest.controls.pbx_evidence import CHECK_WORDS, MAX_FINDINGS_PER_CHECK, finding_fact, pbx_evidence
from attest.engine import CheckContext, CheckOutcome, EvidenceGap
from evidence.log import StoredRecord

CALL_CHECKS = ("DIAL-01", "DIAL-02", "PICK-01", "PICK-02", "PICK-03", "SPY-01", "SPY-02", "SPY-03", "SPY-04",
               "SPY-05", "HINT-01", "PAGE-01", "CONF-01", "PARK-01", "PARK-02", "VM-01", "VM-02", "VM-03")
RECORD_CHECKS = ("CDR-01", "CDR-02", "CDR-03")

NO_PBX: LocalizedText = {
    "en": "No PBX configuration is collected for this customer (no PBX source lists it in its tenant inventory).",
    "it": "Per questo cliente non viene raccolta la configurazione di alcun centralino (nessuna fonte PBX lo "
          "elenca nel proprio inventario clienti).",
}


def judge_pbx_checks(ctx: CheckContext, tenant: TenantConfig, check_ids: tuple[str, ...],
                     what: LocalizedText) -> CheckOutcome:
    """Fail when a listed check fails with a finding that involves this tenant; insufficient
    evidence when one could not be evaluated; pass otherwise. *what* names what is protected."""
    found = pbx_evidence(ctx, tenant)
    if isinstance(found, EvidenceGap):
        return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, found.reason)
    if not found:
        return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, NO_PBX)
    evidence: list[StoredRecord] = []
    failed: list[LocalizedText] = []
    failed_ids: list[str] = []
    open_: list[LocalizedText] = []
    facts: list[LocalizedText] = []
    for pbx in found:
        evidence += [pbx.record, pbx.snapshot.run_record]
        for check_id in check_ids:
            result = pbx.analysis.check(check_id)
            mine = result.involving(tenant.id)
            if result.status == "fail" and mine:
                failed_ids.append(check_id)
                failed.append(CHECK_WORDS[check_id])
                facts += [finding_fact(result, f, tenant.id) for f in mine[:MAX_FINDINGS_PER_CHECK]]
            elif result.status == "not_evaluated":
                open_.append({"en": f"{check_id} on {pbx.source.id}: {result.summary}",
                              "it": f"{check_id} su {pbx.source.id}: {result.summary}"})
    names = ", ".join(p.source.id for p in found)
    drift = [p.source.id for p in found if p.analysis.check("CFG-02").status == "fail"]
    if failed:
        return CheckOutcome(Verdict.FAIL, {
            "en": f"On {names}: " + "; ".join(dict.fromkeys(w["en"] for w in failed)) + ".",
            "it": f"Su {names}: " + "; ".join(dict.fromkeys(w["it"] for w in failed)) + ".",
        }, facts, evidence)
    if drift:
        return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, {
            "en": f"The running PBX {', '.join(drift)} differs from its configuration files, so the files do not "
                  f"prove how it treats {what['en']}.",
            "it": f"Il centralino {', '.join(drift)} in esecuzione differisce dai suoi file di configurazione: i file "
                  f"non provano come tratta {what['it']}.",
        }, [finding_fact(p.analysis.check("CFG-02"), f, tenant.id) for p in found for f in
            p.analysis.check("CFG-02").findings[:5]], evidence)
    if open_:
        return CheckOutcome(Verdict.INSUFFICIENT_EVIDENCE, {
            "en": f"Some checks of {what['en']} could not be evaluated from the configuration of {names}.",
            "it": f"Alcune verifiche su {what['it']} non sono state possibili dalla configurazione di {names}.",
        }, open_, evidence)
    checked = ", ".join(check_ids)
    return CheckOutcome(Verdict.PASS, {
        "en": f"The configuration of {names} gives no other tenant a way to reach {what['en']} "
              f"({len(check_ids)} checks).",
        "it": f"La configurazione di {names} non dà ad altri clienti alcun modo di raggiungere {what['it']} "
              f"({len(check_ids)} verifiche).",
    }, [{"en": f"Checks passed on {names}: {checked}.", "it": f"Verifiche superate su {names}: {checked}."}],
        evidence)


def call_isolation(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    return judge_pbx_checks(ctx, tenant, CALL_CHECKS, {"en": "this customer's calls, phones and voicemail",
                                                         "it": "chiamate, telefoni e segreteria di questo cliente"})


def record_isolation(ctx: CheckContext, tenant: TenantConfig, params: dict[str, Any]) -> CheckOutcome:
    return judge_pbx_checks(ctx, tenant, RECORD_CHECKS, {"en": "this customer's call records",
                                                           "it": "i registri delle chiamate di questo cliente"})
