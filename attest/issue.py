"""Issue attestations: build the frozen Attestation from an evaluation, render it, sign it, store it.

For each tenant: a document id is reserved (never reused), the Attestation names the
evaluation's checkpoint and carries an inclusion proof for every record it cites, then it is
rendered to HTML and PDF/A-3b (with the JSON attached), the PDF gets a PAdES certification
signature and the HTML and JSON get DSSE envelopes. Finally one `attest.document` record per
document (its id and file digests) is appended and signed into the log.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from attest.attestation import (
    Attestation,
    CheckpointRef,
    InclusionProof,
    ProviderInfo,
    TenantInfo,
    Verdict,
    new_document_id,
)
from attest.canonical import sha256_hex
from attest.config import LoadedConfig, TenantConfig
from attest.engine import Evaluation
from attest.incremental import content_digest, current_records, render_version, unchanged
from attest.render.html import render_html
from attest.render.pdf import render_pdf, stats
from attest.schema import PREDICATE_TYPE
from attest.signing import DSSE_SUFFIX, PDF_PRODUCER, ProviderSigner
from attest.status import DocumentIndex
from evidence import merkle
from evidence.log import DOCUMENT_KIND, EvidenceLog, LogIntegrityError, NewRecord


def tool_version() -> str:
    try:
        return version("attest")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


@dataclass
class IssuedDocument:
    tenant_id: str
    document_id: str
    overall: Verdict
    pdf: Path
    html: Path
    json: Path
    supersedes: str | None
    unchanged: bool = False  # nothing it shows changed: the current document stays, nothing was rendered


def build_attestation(config: LoadedConfig, evaluation: Evaluation, tenant: TenantConfig, document_id: str,
                      supersedes: str | None, cited: dict[str, int], proofs: dict[int, list[bytes]]) -> Attestation:
    """The frozen snapshot. *cited* maps every leaf hash cited in the evaluation to its position,
    *proofs* holds the inclusion proof of each position under the evaluation's checkpoint."""
    p = config.model.provider
    cp = evaluation.checkpoint
    results = evaluation.results[tenant.id]
    leaves = sorted({h for r in results for h in r.evidence})
    missing = [h for h in leaves if h not in cited]
    if missing:
        raise RuntimeError(f"cited record(s) not under checkpoint {cp.id}: {', '.join(h[:16] for h in missing)}")
    return Attestation(
        document_id=document_id,
        supersedes=supersedes,
        provider=ProviderInfo(name=p.name, vat_number=p.vat_number, address=p.address, contact=p.contact,
                              verification_url=p.verification_url, demo=p.demo),
        tenant=TenantInfo(id=tenant.id, legal_name=tenant.legal_name, language=tenant.language),
        period=evaluation.period.label,
        period_start=evaluation.period.start,
        period_end=evaluation.period.end,
        time_zone=evaluation.period.time_zone,
        as_of=evaluation.as_of,
        results=results,
        config_digest=config.digest,
        checkpoint=CheckpointRef(log_id=cp.log_id, tree_size=cp.tree_size, root_hash=cp.root_hash.hex(),
                                 signed_at=cp.signed_at, body=cp.body.decode(), signature=_b64(cp.signature),
                                 signer_fingerprint=_fingerprint(cp.signer_cert_pem),
                                 signer_chain=[c.public_bytes(Encoding.PEM).decode() for c in cp.signer_chain]),
        proofs=[InclusionProof(leaf_index=cited[h], leaf_hash=h, audit_path=[x.hex() for x in proofs[cited[h]]])
                for h in leaves],
        generated_at=datetime.now(UTC).replace(microsecond=0),
        tool_version=tool_version(),
        valid_until=evaluation.period.end + timedelta(days=p.validity_days),
    )


def _cited_positions(log: EvidenceLog, evaluation: Evaluation) -> tuple[dict[str, int], dict[int, list[bytes]]]:
    """Positions and inclusion proofs of every record any result cites, computed once for all tenants."""
    size = evaluation.checkpoint.tree_size
    wanted = sorted({h for results in evaluation.results.values() for r in results for h in r.evidence})
    cited = {r.leaf_hex: r.idx for r in log.records(leaves=wanted, up_to=size)}
    leaves = log.leaf_hashes(size)
    if merkle.root(leaves) != evaluation.checkpoint.root_hash:
        raise LogIntegrityError(f"the log no longer matches checkpoint {evaluation.checkpoint.id}")
    return cited, log.inclusion_proofs(sorted(cited.values()), size, leaves)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _fingerprint(pem: str) -> str:
    return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex()


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # readers never see a half-written document


@dataclass(frozen=True)
class Rendered:
    """One attestation laid out (not yet signed), with the WeasyPrint time it took."""

    html: str
    pdf: bytes
    layout_s: float
    write_s: float
    warnings: int


def render_documents(att: Attestation) -> Rendered:
    """HTML and unsigned PDF of one attestation: pure, so it can run in a worker process."""
    before = (stats.layout_s, stats.write_s, stats.warnings)
    html = render_html(att)
    pdf = render_pdf(att, html, producer=PDF_PRODUCER)
    return Rendered(html, pdf, stats.layout_s - before[0], stats.write_s - before[1], stats.warnings - before[2])


# A worker is replaced after this many documents: WeasyPrint's memory grows about 0.3 MB per
# document (reference/rendering.md), which a bulk run over a thousand tenants would notice.
RECYCLE_AFTER = 50


def render_all(atts: list[Attestation], jobs: int | None = None) -> Iterator[Rendered]:
    """Lay out every attestation, in order. WeasyPrint is single-threaded and CPU-bound (about
    half of `attest demo`'s time), so several documents are laid out in *jobs* worker processes
    (default: one per core), each recycled after RECYCLE_AFTER documents; the key never leaves
    this process (signing happens here)."""
    workers = min(len(atts), jobs or os.cpu_count() or 1)
    if workers < 2:
        yield from (render_documents(att) for att in atts)
        return
    # forkserver, not fork: the parent may hold threads (a progress spinner, database pools)
    # whose locks a forked child would inherit; the preload keeps WeasyPrint's import paid once.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["attest.issue"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, max_tasks_per_child=RECYCLE_AFTER) as pool:
        for rendered in pool.map(render_documents, atts):
            stats.add(rendered.layout_s, rendered.write_s, rendered.warnings)  # the workers' share
            yield rendered


def write_documents(att: Attestation, signer: ProviderSigner, out_dir: Path,
                    rendered: Rendered | None = None) -> tuple[Path, Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / att.document_id
    json_bytes = att.to_json_bytes()
    rendered = rendered or render_documents(att)
    html_bytes = rendered.html.encode("utf-8")
    pdf = signer.sign_pdf(rendered.pdf, reason=f"Attestation {att.document_id}", location=att.provider.name)
    # The predicate is the attestation itself, described by the published schema (attest/schema.py).
    predicate = json.loads(json_bytes)
    paths = (stem.with_suffix(".pdf"), stem.with_suffix(".html"), stem.with_suffix(".json"))
    _write(paths[0], pdf)
    _write(paths[1], html_bytes)
    _write(paths[2], json_bytes)
    for path, data in ((paths[1], html_bytes), (paths[2], json_bytes)):
        envelope = signer.dsse_envelope(path.name, data, PREDICATE_TYPE, predicate)
        _write(path.with_name(path.name + DSSE_SUFFIX), envelope)
    return paths


def _issuance_leaves(evaluation: Evaluation, tenant_id: str) -> set[str]:
    """The configuration records this evaluation wrote (new leaves, content covered by config_digest)."""
    return {evaluation.config_record.leaf_hex, *(r.leaf_hex for t, r in evaluation.tenant_records.items()
                                                 if t == tenant_id)}


def _still_on_disk(out_dir: Path, previous: dict[str, Any]) -> tuple[Path, Path, Path] | None:
    """The previous document's files, if they are all there with the digests its record signed."""
    paths = tuple(out_dir / f"{previous.get('document_id')}.{ext}" for ext in ("pdf", "html", "json"))
    files = previous.get("files") or {}
    for path in paths:
        try:
            if sha256_hex(path.read_bytes()) != files.get(path.suffix.lstrip(".")):
                return None
        except OSError:
            return None
    return paths[0], paths[1], paths[2]


def issue(config: LoadedConfig, log: EvidenceLog, signer: ProviderSigner, evaluation: Evaluation,
          progress: Callable[[str], None] | None = None, wait_s: float = 0, jobs: int | None = None,
          force: bool = False) -> list[IssuedDocument]:
    """Issue one document per evaluated tenant inside a `render` run, so that every document
    written is recorded (`attest.document`) and signed into the log, even when a later tenant fails.
    A tenant whose document would show nothing new (attest/incremental.py) keeps its current
    document, unless *force*."""
    issued: list[IssuedDocument] = []
    cited, proofs = _cited_positions(log, evaluation)
    previous = current_records(log, evaluation.period.label)
    documents = DocumentIndex.load(log)  # a revoked document is never kept as the current one
    run_id = log.begin_run("render", signer, wait_s)
    records: list[NewRecord] = []
    kept = 0
    try:
        atts: list[tuple[TenantConfig, str | None, Attestation]] = []
        for tenant_id in evaluation.results:
            tenant = config.tenant(tenant_id)
            supersedes = log.latest_document(tenant.id, evaluation.period.label)
            document_id = new_document_id()
            att = build_attestation(config, evaluation, tenant, document_id, supersedes, cited, proofs)
            before = previous.get(tenant.id)
            out_dir = config.output_dir / tenant.id / evaluation.period.label
            fresh = _issuance_leaves(evaluation, tenant.id)
            keep = (not force and before is not None and before.get("document_id") == supersedes
                    and documents.revocation(str(supersedes)) is None and unchanged(before, att, fresh))
            if keep and before is not None and (files := _still_on_disk(out_dir, before)) is not None:
                issued.append(IssuedDocument(tenant.id, str(supersedes), Verdict(before["overall"]), *files,
                                             supersedes=before.get("supersedes"), unchanged=True))
                kept += 1
                continue
            log.register_document(document_id, tenant.id, evaluation.period.label, supersedes)
            atts.append((tenant, supersedes, att))
        rendering = render_all([a for _, _, a in atts], jobs)
        for (tenant, supersedes, att), rendered in zip(atts, rendering, strict=True):
            if progress:
                progress(tenant.id)
            document_id = att.document_id
            out_dir = config.output_dir / tenant.id / evaluation.period.label
            pdf, html, js = write_documents(att, signer, out_dir, rendered)
            issued.append(IssuedDocument(tenant.id, document_id, att.overall, pdf, html, js, supersedes))
            records.append(NewRecord(source="attest", kind=DOCUMENT_KIND, subject=f"document/{document_id}",
                                     payload={
                "document_id": document_id, "tenant": tenant.id, "period": evaluation.period.label,
                "supersedes": supersedes, "overall": att.overall.value,
                "checkpoint": {"tree_size": att.checkpoint.tree_size, "root_hash": att.checkpoint.root_hash},
                "files": {p.suffix.lstrip("."): sha256_hex(p.read_bytes()) for p in (pdf, html, js)},
                "content_digest": content_digest(att, _issuance_leaves(evaluation, tenant.id)),
                "render_version": render_version(att.tool_version),
            }, collected_at=datetime.now(UTC)))
    finally:
        log.append(run_id, records)
        log.finish_run(run_id, "ok" if len(issued) == len(evaluation.results) else "partial", signer,
                       {"documents": [d.document_id for d in issued if not d.unchanged], "unchanged": kept})
    return issued
