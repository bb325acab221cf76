"""The sub-processors the data location implies: the operators of the datacenters that hold the
tenant's data, with address, country and certifications (from the recorded configuration)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attest.pack.audit import EU_EEA
from attest.pack.audit.location import parse_records, recorded_config
from attest.pack.audit.model import Certificate, Location, SiteRole, SubProcessor


def subprocessors(location: Location, records: Mapping[int, bytes]) -> list[SubProcessor]:
    _, config = recorded_config(parse_records(records))
    sites: dict[str, dict[str, Any]] = {str(s.get("id")): s for s in config.get("sites") or [] if isinstance(s, dict)}
    by_operator: dict[tuple[str, str, str], tuple[set[str], set[SiteRole], dict[str, Certificate]]] = {}
    for use in location.uses:
        site = sites.get(use.site_id)
        if site is None:
            continue
        # One operator may run several sites: it is one sub-processor, listed once per address.
        key = (str(site.get("operator")), str(site.get("address")), str(site.get("country", "")).upper())
        names, roles, certs = by_operator.setdefault(key, (set(), set(), {}))
        names.add(use.name)
        roles.add(use.role)
        for c in site.get("certifications") or []:
            cert = Certificate(standard=str(c.get("standard")), number=str(c.get("number")),
                               issuer=str(c.get("issuer", "")), expires=str(c.get("expires")))
            certs[cert.number] = cert
    order = ("primary", "ha_target", "backup", "offsite")
    return [SubProcessor(operator=op, address=addr, country=country, eu_eea=country in EU_EEA, sites=sorted(names),
                         roles=[r for r in order if r in roles], certifications=[certs[k] for k in sorted(certs)])
            for (op, addr, country), (names, roles, certs) in sorted(by_operator.items())]
