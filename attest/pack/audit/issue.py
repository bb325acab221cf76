"""Issue the audit report once, store it, record it in the evidence log; reuse it while its
content is unchanged.

Why not re-render at every export: a PAdES signature carries the signing time, a random PDF /ID
and (ECDSA) a random nonce, and with a timestamp authority a B-T token; none of it can be fixed
without patching pyHanko, and fixing it would make the signature claim a time it was not made.
So the report is issued like an attestation: signed once, its five files stored beside the
tenant's documents (``<output>/<tenant>/<period>/audit/``), their digests and the report's content
digest signed into the log in an ``attest.audit_report`` record. A later export with the same
content (same attestation, same history, same recorded sites) finds that record, checks the
stored files against it and ships them: the pack is byte-identical. Anything that changes the
content (a new document, a revocation in the history) issues a new report.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from attest.attestation import Attestation
from attest.canonical import sha256_hex
from attest.pack.audit import AUDIT_DIR, AUDIT_PREDICATE_TYPE, AUDIT_RECORD_KIND, audit_files
from attest.pack.audit.model import AuditContent, AuditReport
from attest.pack.audit.render import render_audit_html, render_audit_pdf
from attest.signing import ProviderSigner
from evidence.log import EvidenceLog, NewRecord

_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32, as attestation ids


def new_report_id() -> str:
    """``AU-`` + 20 Crockford base32 chars (100 random bits): never guessed, never reused."""
    return "AU-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(20))


def _stored(folder: Path, payload: dict[str, object]) -> dict[str, bytes] | None:
    """The files a record describes, if every one is on disk with the digest it signed."""
    files = payload.get("files")
    if not isinstance(files, dict) or not files:
        return None
    out: dict[str, bytes] = {}
    for name, digest in files.items():
        try:
            data = (folder / str(name)).read_bytes()
        except OSError:
            return None
        if sha256_hex(data) != digest:
            return None
        out[str(name)] = data
    return out


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def audit_report_files(output_dir: Path, log: EvidenceLog, signer: ProviderSigner, att: Attestation,
                       content: AuditContent, wait_s: float = 30) -> dict[str, bytes]:
    """The five signed files of the report for *content* (name → bytes): the stored ones when a
    signed record of the same content exists and the files still match it, else freshly issued."""
    digest = sha256_hex(content.digest_bytes())
    subject = f"audit/{att.tenant.id}/{att.period}"
    folder = output_dir / att.tenant.id / att.period / AUDIT_DIR
    for rec in reversed(list(log.records(kind=AUDIT_RECORD_KIND, subject=subject, up_to=log.signed_size()))):
        if rec.source == "attest" and rec.payload.get("content_digest") == digest:
            found = _stored(folder, rec.payload)
            if found is not None and set(found) == set(audit_files(str(rec.payload.get("report_id")))):
                return found
    report = AuditReport(report_id=new_report_id(), issued_at=datetime.now(UTC).replace(microsecond=0),
                         content_digest=digest, content=content)
    pdf_name, html_name, json_name, html_env, json_env = audit_files(report.report_id)
    json_bytes = report.to_json_bytes()
    html = render_audit_html(report)
    pdf = signer.sign_pdf(render_audit_pdf(report, html, att), reason=f"GDPR audit report {report.report_id}",
                          location=att.provider.name)
    predicate = json.loads(json_bytes)
    files = {pdf_name: pdf, html_name: html.encode("utf-8"), json_name: json_bytes}
    files[html_env] = signer.dsse_envelope(html_name, files[html_name], AUDIT_PREDICATE_TYPE, predicate)
    files[json_env] = signer.dsse_envelope(json_name, json_bytes, AUDIT_PREDICATE_TYPE, predicate)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        _write(folder / name, data)
    run_id = log.begin_run("audit", signer, wait_s)
    status = "aborted"
    try:
        log.append(run_id, [NewRecord(source="attest", kind=AUDIT_RECORD_KIND, subject=subject, payload={
            "report_id": report.report_id, "tenant": att.tenant.id, "period": att.period,
            "document_id": att.document_id, "content_digest": digest,
            "files": {name: sha256_hex(data) for name, data in sorted(files.items())},
        }, collected_at=report.issued_at)])
        status = "ok"
    finally:
        log.finish_run(run_id, status, signer, {"audit_reports": [report.report_id] if status == "ok" else []})
    return files
