"""GDPR Art. 32 matrix: measure → the catalog controls mapped to it → this tenant's verdicts →
the records each verdict cites.

The measures are the article's own structure (fixed text); which controls serve each one comes
from the catalog's ``mappings.gdpr`` entries, never from a list kept here.
"""

from __future__ import annotations

from attest.attestation import Attestation, LocalizedText, Result, Verdict
from attest.catalog import ControlEntry
from attest.pack.audit.model import ControlVerdict, MatrixControl, Measure, MeasureOutcome

MEASURES: tuple[tuple[str, LocalizedText], ...] = (
    ("Art. 32(1)(a)", {"en": "Pseudonymisation and encryption of personal data",
                       "it": "Pseudonimizzazione e cifratura dei dati personali"}),
    ("Art. 32(1)(b)", {"en": "Ongoing confidentiality, integrity, availability and resilience of processing "
                             "systems and services",
                       "it": "Riservatezza, integrità, disponibilità e resilienza permanenti dei sistemi e dei "
                             "servizi di trattamento"}),
    ("Art. 32(1)(c)", {"en": "Ability to restore availability and access to personal data in a timely manner after "
                             "a physical or technical incident",
                       "it": "Capacità di ripristinare tempestivamente la disponibilità e l'accesso dei dati "
                             "personali in caso di incidente fisico o tecnico"}),
    ("Art. 32(1)(d)", {"en": "Regular testing, assessing and evaluating the effectiveness of the measures",
                       "it": "Procedura per testare, verificare e valutare regolarmente l'efficacia delle misure"}),
    ("Art. 32(2)", {"en": "Assessment of the appropriate level of security, accounting for the risks of processing",
                    "it": "Valutazione dell'adeguato livello di sicurezza, tenendo conto dei rischi del trattamento"}),
)


def leaf_positions(att: Attestation) -> dict[str, int]:
    """leaf hash → position in the log (the n of records/<n>.json), from the inclusion proofs."""
    return {p.leaf_hash: p.leaf_index for p in att.proofs}


def cited(result: Result, positions: dict[str, int]) -> list[int]:
    return sorted({positions[h] for h in result.evidence if h in positions})


def outcome(verdicts: list[ControlVerdict]) -> MeasureOutcome:
    """Worst first; a control not evaluated counts as insufficient evidence, never as a pass."""
    if not verdicts:
        return "not_covered"
    if "fail" in verdicts:
        return "fail"
    if {"insufficient_evidence", "not_evaluated"} & set(verdicts) or "pass" not in verdicts:
        return "insufficient_evidence"
    return "waived" if "waived" in verdicts else "pass"


def controls_for(catalog: list[ControlEntry], reference: str) -> list[ControlEntry]:
    return [c for c in catalog if reference in c.mappings.get("gdpr", [])]


def matrix_control(entry: ControlEntry, results: dict[str, Result], positions: dict[str, int]) -> MatrixControl:
    result = results.get(entry.id)
    if result is None:
        return MatrixControl(control_id=entry.id, title={str(k): v for k, v in entry.title.items()},
                             verdict="not_evaluated",
                             reason={"en": "The attestation holds no result for this control.",
                                     "it": "L'attestazione non contiene alcun esito per questo controllo."})
    return MatrixControl(control_id=entry.id, title=result.title, verdict=Verdict(result.verdict).value,
                         reason=result.reason, records=cited(result, positions))


def art32_matrix(att: Attestation, catalog: list[ControlEntry]) -> list[Measure]:
    results = {r.control_id: r for r in att.results}
    positions = leaf_positions(att)
    measures = []
    for ref, title in MEASURES:
        controls = [matrix_control(c, results, positions) for c in controls_for(catalog, ref)]
        measures.append(Measure(ref=ref, title=title, outcome=outcome([c.verdict for c in controls]),
                                controls=controls))
    return measures
