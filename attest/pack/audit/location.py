"""Where the tenant's data is: the sites (and their countries) of its primary instances, the HA
targets they may be moved to, its backups and its off-site copies.

Read, not recomputed: primary and HA sites from PLACE-01's placement table in the attestation
(the check already mapped nodes to sites); backup and off-site sites from the records BK-02,
BK-03 and BK-04 cite (only this tenant's records, all in the pack), placed with the configuration
recorded with the evaluation (the cited ``attest.config`` record), not today's configuration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from attest.attestation import Attestation, FactTable, LocalizedText, Result
from attest.pack.audit import EU_EEA
from attest.pack.audit.art32 import cited, leaf_positions
from attest.pack.audit.model import ItemStatus, Location, SiteRole, SiteUse

CONFIG_KIND = "attest.config"


@dataclass(frozen=True)
class Recorded:
    """One record of the pack, parsed."""

    idx: int
    kind: str
    source: str
    subject: str
    payload: dict[str, Any]


def parse_records(records: Mapping[int, bytes]) -> dict[int, Recorded]:
    out: dict[int, Recorded] = {}
    for idx, body in records.items():
        try:
            data = json.loads(body)
            out[idx] = Recorded(idx, str(data.get("kind")), str(data.get("source")), str(data.get("subject")),
                                data.get("payload") if isinstance(data.get("payload"), dict) else {})
        except (ValueError, AttributeError):
            continue  # a record that is not JSON places nothing
    return out


def recorded_config(parsed: Mapping[int, Recorded]) -> tuple[int | None, dict[str, Any]]:
    """The newest cited `attest.config` record's provider configuration (sites, sources)."""
    configs = sorted(i for i, r in parsed.items() if r.kind == CONFIG_KIND)
    if not configs:
        return None, {}
    provider = parsed[configs[-1]].payload.get("provider_config")
    return configs[-1], provider if isinstance(provider, dict) else {}


def _placement_table(result: Result) -> FactTable | None:
    for table in result.tables:
        heads = [c.get("en") for c in table.columns]
        if "Runs there now" in heads and "Site" in heads:
            return table
    return None


def _text(en: str, it: str) -> LocalizedText:
    return {"en": en, "it": it}


class _Builder:
    def __init__(self, sites: list[dict[str, Any]]) -> None:
        self.by_id = {str(s.get("id")): s for s in sites}
        self.by_name = {str(s.get("name")): s for s in sites}
        self.uses: dict[tuple[str, str, str], SiteUse] = {}
        self.gaps: list[LocalizedText] = []

    def add(self, role: SiteRole, site: dict[str, Any] | None, detail: str, records: list[int]) -> None:
        if site is None:
            self.gaps.append(_text(f"{detail}: its site is not in the recorded configuration.",
                                   f"{detail}: il suo sito non è nella configurazione registrata."))
            return
        key = (role, str(site.get("id")), detail)
        before = self.uses.get(key)
        merged = sorted({*records, *(before.records if before else [])})
        country = str(site.get("country", "")).upper()
        self.uses[key] = SiteUse(role=role, site_id=str(site.get("id")), name=str(site.get("name")),
                                 kind=str(site.get("kind", "datacenter")), country=country,
                                 eu_eea=country in EU_EEA, detail=detail, records=merged)


def data_location(att: Attestation, records: Mapping[int, bytes]) -> Location:
    parsed = parse_records(records)
    config_idx, config = recorded_config(parsed)
    b = _Builder([s for s in config.get("sites") or [] if isinstance(s, dict)])
    if config_idx is None:
        b.gaps.append(_text("No recorded configuration is among the cited records: sites cannot be placed.",
                            "Nessuna configurazione registrata tra le evidenze citate: i siti non sono collocabili."))
    pbs_sites = {str(s.get("id")): s for s in config.get("sources") or []
                 if isinstance(s, dict) and s.get("type") == "proxmox_bs"}
    results = {r.control_id: r for r in att.results}
    positions = leaf_positions(att)
    _instances(b, results.get("PLACE-01"), positions, parsed)
    _backups(b, [results[c] for c in ("BK-02", "BK-03") if c in results], positions, parsed, pbs_sites)
    _offsite(b, results.get("BK-04"), positions, parsed, pbs_sites)
    roles = {u.role for u in b.uses.values()}
    status: ItemStatus = ("shown" if {"primary", "backup", "offsite"} <= roles and not b.gaps
                          else "partly" if roles else "not_assessable")
    order = {"primary": 0, "ha_target": 1, "backup": 2, "offsite": 3}
    uses = sorted(b.uses.values(), key=lambda u: (order[u.role], u.name, u.detail))
    return Location(status=status, uses=uses, gaps=b.gaps, config_record=config_idx)


def _instances(b: _Builder, place: Result | None, positions: dict[str, int], parsed: Mapping[int, Recorded]) -> None:
    table = _placement_table(place) if place else None
    if place is None or table is None or not table.rows:
        verdict = place.verdict.value if place else "absent"
        b.gaps.append(_text(f"PLACE-01 ({verdict}) placed no instance: the sites of the primary instances and HA "
                            "targets are not shown by this evidence.",
                            f"PLACE-01 ({verdict}) non ha collocato alcuna istanza: i siti delle istanze primarie e "
                            "delle destinazioni HA non risultano da queste evidenze."))
        return
    heads = [c.get("en") for c in table.columns]
    col = {name: heads.index(name) for name in ("Instance", "Node", "Runs there now", "Site")}
    records = [n for n in cited(place, positions) if parsed.get(n) and parsed[n].kind.startswith("proxmox.")]
    for row in table.rows:
        site = b.by_name.get(row[col["Site"]]) or b.by_id.get(row[col["Site"]])
        detail = f"{row[col['Instance']]} (node {row[col['Node']]})"
        b.add("ha_target", site, detail, records)
        if row[col["Runs there now"]] == "✓":
            b.add("primary", site, detail, records)


def _backups(b: _Builder, results: list[Result], positions: dict[str, int], parsed: Mapping[int, Recorded],
             pbs_sites: dict[str, dict[str, Any]]) -> None:
    found: dict[str, list[int]] = {}
    for result in results:
        for n in cited(result, positions):
            rec = parsed.get(n)
            if rec and rec.kind == "pbs.snapshot":
                found.setdefault(rec.source, []).append(n)
    if not found:
        b.gaps.append(_text("BK-02/BK-03 cite no backup snapshot: where the backups are kept is not shown by this "
                            "evidence.",
                            "BK-02/BK-03 non citano alcuno snapshot di backup: dove sono conservati i backup non "
                            "risulta da queste evidenze."))
    for pbs_id, idxs in sorted(found.items()):
        site_id = str((pbs_sites.get(pbs_id) or {}).get("site"))
        b.add("backup", b.by_id.get(site_id), f"backup server {pbs_id}", idxs)


def _offsite(b: _Builder, result: Result | None, positions: dict[str, int], parsed: Mapping[int, Recorded],
             pbs_sites: dict[str, dict[str, Any]]) -> None:
    before = len(b.uses)
    for n in cited(result, positions) if result else []:
        rec = parsed.get(n)
        if rec is None:
            continue
        own_site = str((pbs_sites.get(rec.source) or {}).get("site"))
        if rec.kind == "pbs.job" and rec.payload.get("job_type") == "sync":
            pushed = rec.payload.get("direction") == "push"
            site_id = str(rec.payload.get("remote_site")) if pushed else own_site
            b.add("offsite", b.by_id.get(site_id), f"sync job {rec.payload.get('id')}", [n])
        elif rec.kind == "pbs.snapshot":  # BK-04 cites a snapshot only when it lies at another site
            b.add("offsite", b.by_id.get(own_site), f"backup server {rec.source}", [n])
    if len(b.uses) == before:
        verdict = result.verdict.value if result else "absent"
        b.gaps.append(_text(f"BK-04 ({verdict}) cites no off-site copy: off-site copies are not shown by this "
                            "evidence.",
                            f"BK-04 ({verdict}) non cita alcuna copia in altro sito: le copie fuori sede non "
                            "risultano da queste evidenze."))
