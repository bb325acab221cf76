"""GDPR Art. 28(3)(a)–(h): what the evidence in this pack shows for each point of the processing
contract, and plainly which points technical evidence cannot show (they are contractual)."""

from __future__ import annotations

from attest.attestation import Attestation, LocalizedText
from attest.catalog import ControlEntry
from attest.pack.audit.art32 import art32_matrix, controls_for, leaf_positions, matrix_control
from attest.pack.audit.model import ChecklistItem, ItemStatus, Location, Measure

POINTS: dict[str, LocalizedText] = {
    "a": {"en": "Processes only on documented instructions, including on transfers to third countries",
          "it": "Tratta i dati solo su istruzione documentata, anche per i trasferimenti verso paesi terzi"},
    "b": {"en": "Persons authorised to process are committed to confidentiality",
          "it": "Le persone autorizzate al trattamento sono impegnate alla riservatezza"},
    "c": {"en": "Takes all measures required by Art. 32", "it": "Adotta tutte le misure richieste dall'art. 32"},
    "d": {"en": "Respects the conditions for engaging another processor (sub-processors)",
          "it": "Rispetta le condizioni per ricorrere a un altro responsabile (sub-responsabili)"},
    "e": {"en": "Assists the controller in responding to data subjects' requests",
          "it": "Assiste il titolare nel dare seguito alle richieste degli interessati"},
    "f": {"en": "Assists the controller with the obligations of Arts. 32 to 36",
          "it": "Assiste il titolare nel rispetto degli obblighi degli artt. da 32 a 36"},
    "g": {"en": "Deletes or returns all personal data at the end of the services",
          "it": "Cancella o restituisce tutti i dati personali al termine dei servizi"},
    "h": {"en": "Makes available the information needed to demonstrate compliance, and allows for audits",
          "it": "Mette a disposizione le informazioni necessarie a dimostrare il rispetto degli obblighi e "
                "consente le attività di revisione"},
}

CONTRACTUAL: LocalizedText = {
    "en": "Not shown by technical evidence — contractual: check the data processing agreement.",
    "it": "Non dimostrabile con evidenze tecniche — aspetto contrattuale: verificare l'accordo sul trattamento.",
}


def _text(en: str, it: str) -> LocalizedText:
    return {"en": en, "it": it}


def _art32_item(matrix: list[Measure]) -> tuple[ItemStatus, LocalizedText]:
    outcomes = {m.ref: m.outcome for m in matrix}
    failed = [ref for ref, o in outcomes.items() if o == "fail"]
    unproven = [ref for ref, o in outcomes.items() if o == "insufficient_evidence"]
    uncovered = [ref for ref, o in outcomes.items() if o == "not_covered"]
    met = [ref for ref, o in outcomes.items() if o in ("pass", "waived")]
    parts_en = [f"met: {', '.join(met) or 'none'}"]
    parts_it = [f"rispettate: {', '.join(met) or 'nessuna'}"]
    if failed:
        parts_en.append(f"not met: {', '.join(failed)}")
        parts_it.append(f"non rispettate: {', '.join(failed)}")
    if unproven:
        parts_en.append(f"not assessable (insufficient evidence): {', '.join(unproven)}")
        parts_it.append(f"non valutabili (evidenze insufficienti): {', '.join(unproven)}")
    if uncovered:
        parts_en.append(f"not covered by any control: {', '.join(uncovered)}")
        parts_it.append(f"non coperte da alcun controllo: {', '.join(uncovered)}")
    text = _text("Art. 32 matrix (section 1) — " + "; ".join(parts_en) + ".",
                 "Matrice art. 32 (sezione 1) — " + "; ".join(parts_it) + ".")
    if failed:
        return "not_shown", text
    if not met:
        return "not_assessable", text
    return ("partly" if unproven or uncovered else "shown"), text


def art28_checklist(att: Attestation, catalog: list[ControlEntry], location: Location,
                    matrix: list[Measure] | None = None) -> list[ChecklistItem]:
    matrix = matrix if matrix is not None else art32_matrix(att, catalog)
    results = {r.control_id: r for r in att.results}
    positions = leaf_positions(att)
    items: list[ChecklistItem] = []
    for point, title in POINTS.items():
        ref = f"Art. 28(3)({point})"
        # Controls the catalog maps to this point directly (e.g. dedicated instances → (c)).
        direct = [matrix_control(c, results, positions) for c in controls_for(catalog, ref)]
        controls = [c.control_id for c in direct]
        records = sorted({n for c in direct for n in c.records})
        status: ItemStatus
        if point == "c":
            status, text = _art32_item(matrix)
            controls = sorted({*controls, *(c.control_id for m in matrix for c in m.controls)})
            records = sorted({*records, *(n for m in matrix for c in m.controls for n in c.records)})
        elif point == "d":
            status = "partly" if location.status == "shown" else "not_assessable"
            text = _text("The sub-processors implied by the sites that hold the data are listed (section 4). Whether "
                         "the controller authorised them, and was told of changes, is contractual.",
                         "I sub-responsabili implicati dai siti che ospitano i dati sono elencati (sezione 4). Se il "
                         "titolare li abbia autorizzati, e sia stato informato delle modifiche, è contrattuale.")
            records = sorted({*records, *(n for u in location.uses for n in u.records)})
        elif point == "f":
            status = "partly"
            text = _text("Art. 32: see the matrix (section 1). Arts. 33–36 (breach notification, impact "
                         "assessment, prior consultation) are not shown by technical evidence — contractual.",
                         "Art. 32: vedere la matrice (sezione 1). Artt. 33–36 (notifica delle violazioni, "
                         "valutazione d'impatto, consultazione preventiva) non sono dimostrabili con evidenze "
                         "tecniche — aspetto contrattuale.")
        elif point == "h":
            status = "shown"
            text = _text("This pack: the signed attestation, every record it cites with its inclusion proof, this "
                         "report and its history, verifiable offline. The right to inspections is contractual.",
                         "Questo pacchetto: l'attestazione firmata, ogni evidenza citata con la sua prova di "
                         "inclusione, questo rapporto e il suo storico, verificabili senza rete. Il diritto di "
                         "ispezione è contrattuale.")
        else:
            status, text = "not_shown", CONTRACTUAL
            if point == "a":
                text = _text(CONTRACTUAL["en"] + " Where the data is held (section 3) bears on transfers.",
                             CONTRACTUAL["it"] + " Dove sono conservati i dati (sezione 3) rileva per i "
                             "trasferimenti.")
        items.append(ChecklistItem(point=ref, title=title, status=status, text=text, controls=controls,
                                   records=records))
    return items
