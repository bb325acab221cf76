"""Verify an evidence pack offline, with trust anchors only (no log, no configuration).

In order, stopping at the first problem (each names the file):
1. the ZIP is usable (attest.pack.archive; otherwise ``UnusableInput``, exit 2);
2. ``MANIFEST.json`` is signed in ``MANIFEST.json.dsse.json`` (signature and subject digest);
3. the entries are exactly the manifest's files plus the manifest and its envelope, each with the
   listed SHA-256 and size;
4. the PDF's certification signature, and the HTML and JSON DSSE envelopes, are valid;
5. the attestation JSON names the manifest's document, tenant, period and checkpoint; the
   checkpoint's signature matches its body and every inclusion proof leads to its root;
6. ``records/<n>.json`` are exactly the records the attestation proves, each hashing to the
   leaf hash of the proof at position n;
7. ``certificates/provider-chain.pem`` starts with the certificate that signed the manifest;
8. in an audit pack, ``audit/`` holds one audit report (PDF, HTML, JSON, two DSSE envelopes):
   its PDF and DSSE signatures are valid, it names the manifest's tenant, period and document,
   and every record it refers to is in the pack;
9. every file under ``certificates/sites/`` hashes to the artifact digest of the site-certificate
   record it is named after, and every such record has its file.
A provider-wide (``fleet``) pack instead holds the fleet attestation, whose JSON names the signed
checkpoint, and ``proofs.json``: the datacenter records it holds are exactly those proven there,
each leading to the checkpoint's root (steps 1–4, 7 and 9 as above).
When all hold, the signers (manifest, PDF, HTML, JSON, checkpoint) must chain to the anchors:
otherwise the report is valid but not trusted, with the first reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from pydantic import ValidationError

from attest.attestation import Attestation, InclusionProof
from attest.canonical import canonical_json
from attest.fleet.model import FleetAttestation
from attest.pack import CHAIN, MANIFEST, MANIFEST_ENVELOPE
from attest.pack.archive import read_zip
from attest.pack.audit import AUDIT_DIR, REPORT_JSON_SUFFIX, audit_files
from attest.pack.audit.model import AuditReport
from attest.pack.certificates import SITE_CERTIFICATES, check_site_certificates
from attest.pack.fleet import FLEET_KIND, PROOFS
from attest.pack.guide import colon_fingerprint
from attest.pack.manifest import Manifest, parse_manifest
from attest.proofs import checkpoint_trust_problem, integrity_problems
from attest.signing import DSSE_SUFFIX, certificate_fingerprint
from attest.verify import UnusableInput, VerifyReport, verify_dsse, verify_pdf
from evidence import merkle

_RECORD = re.compile(r"^records/(0|[1-9][0-9]{0,18})\.json$")


@dataclass
class PackReport:
    path: Path
    valid: bool = True
    trusted: bool = False
    problem: str | None = None  # the first problem that makes the pack invalid: "<file>: <what>"
    trust_problem: str | None = None  # why a valid pack is not trusted
    signer: str | None = None
    fingerprint: str | None = None  # SHA-256 of the manifest signer's certificate, AB:CD:… form
    document_id: str | None = None
    tenant: str | None = None
    period: str | None = None
    records: int = 0
    tree_size: int | None = None
    files: int = 0
    details: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.valid and self.trusted


class _Invalid(Exception):
    def __init__(self, name: str, what: str) -> None:
        super().__init__(f"{name}: {what}")


def verify_pack(path: Path, trust_anchors: Sequence[x509.Certificate]) -> PackReport:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnusableInput(f"cannot read {path}: {exc.strerror}") from None
    files, damaged = read_zip(data, str(path))
    report = PackReport(path, files=len(files) + len(damaged))
    with tempfile.TemporaryDirectory(prefix="attest-pack-") as tmp:
        root = Path(tmp)
        for name, content in files.items():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        try:
            _check(root, files, damaged, trust_anchors, report)
        except _Invalid as exc:
            report.valid = False
            report.problem = str(exc)
    report.trusted = report.valid and report.trust_problem is None
    return report


def _distrust(report: PackReport, name: str, reason: str | None) -> None:
    if reason and report.trust_problem is None:
        report.trust_problem = f"{name}: {reason}"


def _signed_file(root: Path, name: str, trust_anchors: Sequence[x509.Certificate],
                 report: PackReport) -> VerifyReport:
    """verify_pdf / verify_dsse on an extracted file; any failure is a problem naming it."""
    try:
        result = verify_pdf(root / name, trust_anchors) if name.endswith(".pdf") else verify_dsse(root / name,
                                                                                                  trust_anchors)
    except UnusableInput as exc:
        raise _Invalid(name, str(exc).replace(str(root) + "/", "")) from None
    if not result.valid:
        raise _Invalid(name, (result.reasons or ["the signature is not valid"])[0].replace(str(root) + "/", ""))
    if not result.trusted:
        _distrust(report, name, (result.reasons or ["the signer is not trusted"])[0])
    return result


def _check(root: Path, files: dict[str, bytes], damaged: dict[str, str],
           trust_anchors: Sequence[x509.Certificate], report: PackReport) -> None:
    for name in (MANIFEST, MANIFEST_ENVELOPE):
        if name in damaged:
            raise _Invalid(name, damaged[name])
        if name not in files:
            raise _Invalid(name, "missing: the pack has no signed manifest")
    signed = _signed_file(root, MANIFEST, trust_anchors, report)
    report.signer = signed.signer
    try:
        manifest = parse_manifest(files[MANIFEST])
    except ValueError as exc:
        raise _Invalid(MANIFEST, f"not a well-formed pack manifest ({exc})") from None
    if signed.details.get("signer_fingerprint") != manifest.signer_fingerprint:
        raise _Invalid(MANIFEST, "names a signer fingerprint other than the certificate that signed it")
    report.document_id, report.tenant, report.period = manifest.document_id, manifest.tenant, manifest.period
    report.tree_size = manifest.tree_size
    _check_listing(files, damaged, manifest)
    if manifest.kind == FLEET_KIND:
        report.records = _check_fleet(root, files, manifest, trust_anchors, report)
        _check_chain(files[CHAIN], signed, report)
        _check_envelope_form(files[MANIFEST_ENVELOPE], files[CHAIN])
        return
    doc = f"document/{manifest.document_id}"
    expected = {f"{doc}.pdf", f"{doc}.html", f"{doc}.json", f"{doc}.html{DSSE_SUFFIX}", f"{doc}.json{DSSE_SUFFIX}",
                CHAIN, "GUIDE-en.txt", "GUIDE-it.txt"}
    if manifest.kind == "audit":
        expected |= _audit_names(files)
    elif manifest.kind != "tender":
        raise _Invalid(MANIFEST, f"names an unknown pack kind {manifest.kind!r}")
    for name in sorted(expected - set(files)):
        raise _Invalid(name, "missing, and the manifest does not list it either")
    for name in sorted(set(files) - expected - {MANIFEST, MANIFEST_ENVELOPE}):
        if not _RECORD.match(name) and not name.startswith(SITE_CERTIFICATES):
            raise _Invalid(name, "is not a file an evidence pack holds")
    _signed_file(root, f"{doc}.pdf", trust_anchors, report)
    _signed_file(root, f"{doc}.html", trust_anchors, report)
    _signed_file(root, f"{doc}.json", trust_anchors, report)  # also checks the checkpoint and proofs
    att = _attestation(files[f"{doc}.json"], manifest, f"{doc}.json")
    _distrust(report, f"{doc}.json", checkpoint_trust_problem(att, trust_anchors))
    report.records = _check_records(files, att)
    if problem := check_site_certificates(files):  # each file is the one its (proven) record names
        raise _Invalid(*problem)
    if manifest.kind == "audit":
        _check_audit(root, files, manifest, trust_anchors, report)
    _check_chain(files[CHAIN], signed, report)
    _check_envelope_form(files[MANIFEST_ENVELOPE], files[CHAIN])


def _check_fleet(root: Path, files: dict[str, bytes], manifest: Manifest,
                 trust_anchors: Sequence[x509.Certificate], report: PackReport) -> int:
    """A provider-wide pack: the fleet attestation's signatures (its JSON names the signed
    checkpoint), and every datacenter record proven under that checkpoint by proofs.json."""
    doc = f"document/{manifest.document_id}"
    expected = {f"{doc}.pdf", f"{doc}.html", f"{doc}.json", f"{doc}.html{DSSE_SUFFIX}", f"{doc}.json{DSSE_SUFFIX}",
                CHAIN, "GUIDE-en.txt", "GUIDE-it.txt", PROOFS}
    for name in sorted(expected - set(files)):
        raise _Invalid(name, "missing, and the manifest does not list it either")
    for name in sorted(set(files) - expected - {MANIFEST, MANIFEST_ENVELOPE}):
        if not _RECORD.match(name) and not name.startswith(SITE_CERTIFICATES):
            raise _Invalid(name, "is not a file a provider-wide pack holds")
    for ext in ("pdf", "html", "json"):
        _signed_file(root, f"{doc}.{ext}", trust_anchors, report)  # the JSON's checkpoint signature too
    try:
        fleet = FleetAttestation.from_json_bytes(files[f"{doc}.json"])
    except (ValueError, ValidationError):
        raise _Invalid(f"{doc}.json", "is not a well-formed provider-wide attestation") from None
    cp = fleet.checkpoint
    if (fleet.document_id, fleet.period, cp.tree_size, cp.root_hash) != (
            manifest.document_id, manifest.period, manifest.tree_size, manifest.root_hash) or manifest.tenant:
        raise _Invalid(f"{doc}.json", "names another document, period or checkpoint than the signed manifest")
    try:
        raw = json.loads(files[PROOFS])
        listed = raw["checkpoint"]
        proofs = {p.leaf_index: p for p in (InclusionProof.model_validate(x) for x in raw["proofs"])}
    except (ValueError, KeyError, TypeError, ValidationError):
        raise _Invalid(PROOFS, "is not a well-formed list of inclusion proofs") from None
    if (listed.get("tree_size"), listed.get("root_hash")) != (cp.tree_size, cp.root_hash):
        raise _Invalid(PROOFS, "proves against another checkpoint than the attestation's")
    present = {int(m.group(1)): name for name in files if (m := _RECORD.match(name))}
    root_hash = bytes.fromhex(cp.root_hash)
    for idx in sorted(set(present) | set(proofs)):
        name = present.get(idx, f"records/{idx}.json")
        if idx not in proofs:
            raise _Invalid(name, f"has no inclusion proof in {PROOFS}")
        if idx not in present:
            raise _Invalid(name, f"{PROOFS} proves it, but it is missing from the pack")
        leaf = merkle.leaf_hash(files[name])
        proof = proofs[idx]
        if leaf.hex() != proof.leaf_hash or not merkle.verify_inclusion(
                leaf, idx, cp.tree_size, [bytes.fromhex(h) for h in proof.audit_path], root_hash):
            raise _Invalid(name, "does not match its inclusion proof under the signed checkpoint")
    if problem := check_site_certificates(files):
        raise _Invalid(*problem)
    return len(proofs)


def _audit_id(files: dict[str, bytes]) -> str:
    """The id of the one audit report an audit pack holds, from its report JSON's name."""
    ids = sorted(n[len(AUDIT_DIR) + 1 : -len(REPORT_JSON_SUFFIX)] for n in files
                 if n.startswith(f"{AUDIT_DIR}/") and n.endswith(REPORT_JSON_SUFFIX))
    if len(ids) != 1:
        raise _Invalid(f"{AUDIT_DIR}/{ids[0] if ids else '<id>'}{REPORT_JSON_SUFFIX}",
                       f"an audit pack holds exactly one audit report; found {len(ids)}")
    return ids[0]


def _audit_names(files: dict[str, bytes]) -> set[str]:
    return {f"{AUDIT_DIR}/{name}" for name in audit_files(_audit_id(files))}


def _check_audit(root: Path, files: dict[str, bytes], manifest: Manifest,
                 trust_anchors: Sequence[x509.Certificate], report: PackReport) -> None:
    """The audit report: its PDF and DSSE signatures, that it is about this pack's tenant, period and
    document, and that every record it points the auditor to is in the pack."""
    pdf, html, json_name, _, _ = (f"{AUDIT_DIR}/{name}" for name in audit_files(_audit_id(files)))
    _signed_file(root, pdf, trust_anchors, report)
    _signed_file(root, html, trust_anchors, report)
    _signed_file(root, json_name, trust_anchors, report)
    try:
        audit = AuditReport.from_json_bytes(files[json_name])
    except (ValueError, ValidationError):
        raise _Invalid(json_name, "is not a well-formed audit report") from None
    c = audit.content
    if json_name != f"{AUDIT_DIR}/{audit.report_id}{REPORT_JSON_SUFFIX}":
        raise _Invalid(json_name, f"holds report {audit.report_id}, not the one its name says")
    if (c.tenant.id, c.period, c.document_id) != (manifest.tenant, manifest.period, manifest.document_id):
        raise _Invalid(json_name, "is about another tenant, period or document than the signed manifest")
    cited = {n for m in c.art32 for ctl in m.controls for n in ctl.records}
    cited |= {n for i in c.art28 for n in i.records} | {n for u in c.location.uses for n in u.records}
    if c.location.config_record is not None:
        cited.add(c.location.config_record)
    for n in sorted(cited):
        if f"records/{n}.json" not in files:
            raise _Invalid(json_name, f"points to records/{n}.json, which the pack does not hold")


def _check_listing(files: dict[str, bytes], damaged: dict[str, str], manifest: Manifest) -> None:
    present = (set(files) | set(damaged)) - {MANIFEST, MANIFEST_ENVELOPE}
    for name in sorted(present | set(manifest.files)):
        if name not in manifest.files:
            raise _Invalid(name, "present in the pack but not listed in the signed manifest (added)")
        if name not in present:
            raise _Invalid(name, "listed in the signed manifest but missing from the pack (removed)")
        if name in damaged:
            raise _Invalid(name, damaged[name])
        sha, size = manifest.files[name]
        actual = hashlib.sha256(files[name]).hexdigest()
        if actual != sha or len(files[name]) != size:
            raise _Invalid(name, f"does not match the signed manifest (SHA-256 {actual[:16]}…, {len(files[name])} "
                                 f"bytes; listed {sha[:16]}…, {size} bytes): altered")


def _attestation(data: bytes, manifest: Manifest, name: str) -> Attestation:
    try:
        att = Attestation.from_json_bytes(data)
    except (ValueError, ValidationError):
        raise _Invalid(name, "is not a well-formed attestation") from None
    ours = (att.document_id, att.tenant.id, att.period, att.checkpoint.tree_size, att.checkpoint.root_hash)
    listed = (manifest.document_id, manifest.tenant, manifest.period, manifest.tree_size, manifest.root_hash)
    if ours != listed:
        raise _Invalid(name, "names another document, tenant, period or checkpoint than the signed manifest")
    problems = integrity_problems(att)
    if problems:
        raise _Invalid(name, problems[0])
    return att


def _check_records(files: dict[str, bytes], att: Attestation) -> int:
    proofs = {p.leaf_index: p for p in att.proofs}
    cited = {h for r in att.results for h in r.evidence}
    if cited != {p.leaf_hash for p in att.proofs}:
        raise _Invalid("document/" + att.document_id + ".json", "its proofs are not exactly the records it cites")
    present: dict[int, str] = {}
    for name in files:
        m = _RECORD.match(name)
        if m:
            present[int(m.group(1))] = name
    for idx in sorted(set(present) | set(proofs)):
        name = present.get(idx, f"records/{idx}.json")
        if idx not in proofs:
            raise _Invalid(name, "is not a record the attestation cites")
        if idx not in present:
            raise _Invalid(name, "a record the attestation cites is missing from the pack")
        leaf = hashlib.sha256(b"\x00" + files[name]).hexdigest()
        if leaf != proofs[idx].leaf_hash:
            raise _Invalid(name, "does not match its inclusion proof (its leaf hash differs from the one proven in "
                                 "the signed checkpoint)")
    return len(proofs)


def _check_envelope_form(envelope: bytes, chain_pem: bytes) -> None:
    """The manifest's envelope cannot be listed in the manifest, so nothing in it may vary: it
    must be canonical JSON, and the certificates it carries must be ones the (listed) chain file
    holds. Its signature, payload and key id were checked already."""
    try:
        raw = json.loads(envelope)
        canonical = canonical_json(raw) == envelope
        carried = [x509.load_pem_x509_certificate(p.encode()) for p in raw.get("certificates", [])]
    except (ValueError, TypeError, AttributeError):
        raise _Invalid(MANIFEST_ENVELOPE, "is not a well-formed DSSE envelope") from None
    if not canonical:
        raise _Invalid(MANIFEST_ENVELOPE, "is not in the canonical form it was written in: altered")
    chain = x509.load_pem_x509_certificates(chain_pem)
    if any(cert not in chain for cert in carried):
        raise _Invalid(MANIFEST_ENVELOPE, f"carries a certificate that {CHAIN} does not hold: altered")


def _check_chain(pem: bytes, signed: VerifyReport, report: PackReport) -> None:
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise _Invalid(CHAIN, "holds no readable PEM certificate") from None
    if certificate_fingerprint(chain[0]) != signed.details.get("signer_fingerprint"):
        raise _Invalid(CHAIN, "does not start with the certificate that signed the manifest")
    report.fingerprint = colon_fingerprint(chain[0])
