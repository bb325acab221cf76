"""Evidence packs (issue 7): one ZIP a tenant can hand to a tender board or an auditor.

A pack holds the tenant's current signed document for a period (PDF, HTML, JSON and their DSSE
envelopes), every evidence record the attestation cites (exact stored bytes, provable against
the attestation's signed checkpoint), the provider's certificate chain, a verification guide in
English and Italian, and ``MANIFEST.json`` (every other file's SHA-256 and size) signed in
``MANIFEST.json.dsse.json``. It can be checked offline with only a trust anchor.

Modules, one job each: ``archive`` (deterministic ZIP writing, safe reading), ``manifest``
(the manifest's shape), ``guide`` (the verification guides), ``build`` (collect from a
workspace and write the ZIP), ``verify`` (check a pack), ``audit/`` (the audit kind's GDPR
audit report: ``audit/<id>.pdf, .html, .report.json`` and their signatures).
"""

from __future__ import annotations

PACK_SCHEMA = "attest.pack/v1"
PACK_PREDICATE_TYPE = "https://attest-pbx.org/pack/v1"
MANIFEST = "MANIFEST.json"
MANIFEST_ENVELOPE = "MANIFEST.json.dsse.json"
CHAIN = "certificates/provider-chain.pem"
GUIDES = ("GUIDE-en.txt", "GUIDE-it.txt")
KINDS = ("tender", "audit")
