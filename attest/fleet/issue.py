"""Issue the fleet attestation: aggregate an evaluation of every tenant, build the frozen
document, render it, sign it (PAdES, DSSE), store it under output_dir/_fleet/<period>/ and record
it as an `attest.document` (tenant "_fleet", scope "fleet") in a `render` run of the log.

Recording it under the "_fleet" key (never a tenant id: config.TenantId) gives it the
attestations' bookkeeping for free: `latest_document` finds what it supersedes, DocumentIndex
reports it current, superseded or revoked, and `attest revoke` works on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter

from cryptography.hazmat.primitives.serialization import Encoding

from attest.attestation import CheckpointRef, ProviderInfo, new_document_id
from attest.canonical import sha256_hex
from attest.config import LoadedConfig
from attest.engine import Evaluation
from attest.errors import BadInput
from attest.fleet.aggregate import FleetFigures, aggregate
from attest.fleet.model import FLEET_PREDICATE_TYPE, FLEET_SCOPE, FleetAttestation
from attest.fleet.render import render_fleet_html, render_fleet_pdf
from attest.issue import _b64, _fingerprint, _write, tool_version
from attest.signing import DSSE_SUFFIX, PDF_PRODUCER, ProviderSigner
from evidence.log import DOCUMENT_KIND, EvidenceLog, NewRecord, SignedCheckpoint

FLEET_LANGUAGES = ("en", "it")


@dataclass
class IssuedFleet:
    fleet: FleetAttestation
    pdf: Path
    html: Path
    json: Path
    supersedes: str | None
    aggregate_s: float  # time spent aggregating (bench/fleet.py splits it from rendering)


def checkpoint_ref(cp: SignedCheckpoint) -> CheckpointRef:
    """The evaluation's checkpoint, as the attestations name it (attest/issue.py)."""
    return CheckpointRef(log_id=cp.log_id, tree_size=cp.tree_size, root_hash=cp.root_hash.hex(),
                         signed_at=cp.signed_at, body=cp.body.decode(), signature=_b64(cp.signature),
                         signer_fingerprint=_fingerprint(cp.signer_cert_pem),
                         signer_chain=[c.public_bytes(Encoding.PEM).decode() for c in cp.signer_chain])


def build_fleet(config: LoadedConfig, evaluation: Evaluation, figures: FleetFigures, document_id: str,
                supersedes: str | None) -> FleetAttestation:
    p = config.model.provider
    return FleetAttestation(
        document_id=document_id,
        supersedes=supersedes,
        provider=ProviderInfo(name=p.name, vat_number=p.vat_number, address=p.address, contact=p.contact,
                              verification_url=p.verification_url, demo=p.demo),
        period=evaluation.period.label,
        period_start=evaluation.period.start,
        period_end=evaluation.period.end,
        time_zone=evaluation.period.time_zone,
        as_of=evaluation.as_of,
        tenant_count=figures.tenant_count,
        instance_count=figures.instance_count,
        figures=figures.figures,
        availability=figures.availability,
        exceptions=figures.exceptions,
        config_digest=config.digest,
        checkpoint=checkpoint_ref(evaluation.checkpoint),
        generated_at=datetime.now(UTC).replace(microsecond=0),
        tool_version=tool_version(),
        valid_until=evaluation.period.end + timedelta(days=p.validity_days),
    )


def write_fleet(doc: FleetAttestation, signer: ProviderSigner, out_dir: Path, lang: str) -> tuple[Path, Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / doc.document_id
    json_bytes = doc.to_json_bytes()
    html_bytes = render_fleet_html(doc, lang).encode("utf-8")
    pdf = signer.sign_pdf(render_fleet_pdf(doc, lang, producer=PDF_PRODUCER),
                          reason=f"Provider-wide attestation {doc.document_id}", location=doc.provider.name)
    paths = (stem.with_suffix(".pdf"), stem.with_suffix(".html"), stem.with_suffix(".json"))
    _write(paths[0], pdf)
    _write(paths[1], html_bytes)
    _write(paths[2], json_bytes)
    predicate = json.loads(json_bytes)
    for path, data in ((paths[1], html_bytes), (paths[2], json_bytes)):
        _write(path.with_name(path.name + DSSE_SUFFIX),
               signer.dsse_envelope(path.name, data, FLEET_PREDICATE_TYPE, predicate))
    return paths


def issue_fleet(config: LoadedConfig, log: EvidenceLog, signer: ProviderSigner, evaluation: Evaluation,
                lang: str = "en", wait_s: float = 0, key: bytes | None = None) -> IssuedFleet:
    """Issue the fleet document for *evaluation*, which must cover every configured tenant (a
    figure over some tenants would read as one over all). *key*: see aggregate()."""
    missing = {t.id for t in config.model.tenants} - set(evaluation.results)
    if missing:
        raise BadInput(f"the fleet attestation needs every tenant evaluated; {len(missing)} were not")
    if lang not in FLEET_LANGUAGES:
        raise BadInput(f"--lang {lang}: the fleet attestation is written in {', '.join(FLEET_LANGUAGES)}")
    started = perf_counter()
    figures = aggregate(config, log, evaluation, key)
    aggregate_s = perf_counter() - started
    period = evaluation.period.label
    supersedes = log.latest_document(FLEET_SCOPE, period)
    document_id = new_document_id()
    doc = build_fleet(config, evaluation, figures, document_id, supersedes)
    run_id = log.begin_run("render", signer, wait_s)
    records: list[NewRecord] = []
    try:
        log.register_document(document_id, FLEET_SCOPE, period, supersedes)
        pdf, html, js = write_fleet(doc, signer, config.output_dir / FLEET_SCOPE / period, lang)
        records.append(NewRecord(source="attest", kind=DOCUMENT_KIND, subject=f"document/{document_id}", payload={
            "document_id": document_id, "tenant": FLEET_SCOPE, "scope": "fleet", "period": period,
            "supersedes": supersedes, "overall": None, "language": lang,
            "checkpoint": {"tree_size": doc.checkpoint.tree_size, "root_hash": doc.checkpoint.root_hash},
            "files": {p.suffix.lstrip("."): sha256_hex(p.read_bytes()) for p in (pdf, html, js)},
        }, collected_at=datetime.now(UTC)))
    finally:
        log.append(run_id, records)
        log.finish_run(run_id, "ok" if records else "partial", signer,
                       {"documents": [r.payload["document_id"] for r in records]})
    return IssuedFleet(doc, pdf, html, js, supersedes, aggregate_s)
