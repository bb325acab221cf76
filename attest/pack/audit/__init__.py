"""The audit kind of evidence pack: one audit report per tenant and period, organised by what a
GDPR auditor must verify, built from the evidence the pack already carries.

Modules, one job each: ``model`` (the report's JSON shape), ``art32`` (Art. 32 matrix, from the
catalog's ``gdpr`` mappings), ``art28`` (Art. 28(3) checklist), ``location`` (where the tenant's
data is, from the attestation and the records it cites), ``subprocessors`` (the datacenter
operators those sites imply), ``history`` (verdicts over the last 12 periods, from the stored,
log-checked attestations), ``assemble`` (the report from those parts), ``render`` (HTML and
PDF/A-3b), ``issue`` (sign, store and record the report once; reuse it while its content is
unchanged, which is what keeps a pack built twice byte-identical).
"""

from __future__ import annotations

AUDIT_SCHEMA = "attest.audit_report/v1"
AUDIT_PREDICATE_TYPE = "https://attest-pbx.org/audit-report/v1"
AUDIT_RECORD_KIND = "attest.audit_report"
AUDIT_DIR = "audit"
# The report's JSON is "<id>.report.json", not "<id>.json": the PDF attaches the attestation the
# report rests on as attestation.json, and `attest verify` compares a PDF's attachment with a
# "<stem>.json" sibling; a different name keeps the two apart.
REPORT_JSON_SUFFIX = ".report.json"
HISTORY_PERIODS = 12
# EU member states and the EEA EFTA states (Iceland, Liechtenstein, Norway), ISO 3166-1 alpha-2.
EU_EEA = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
    "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
})


def audit_files(report_id: str) -> tuple[str, str, str, str, str]:
    """The five file names of a report: PDF, HTML, JSON and the HTML's and JSON's DSSE envelopes."""
    from attest.signing import DSSE_SUFFIX

    json_name = f"{report_id}{REPORT_JSON_SUFFIX}"
    return (f"{report_id}.pdf", f"{report_id}.html", json_name, f"{report_id}.html{DSSE_SUFFIX}",
            f"{json_name}{DSSE_SUFFIX}")
