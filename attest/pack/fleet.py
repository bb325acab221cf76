"""The provider-wide (fleet) pack: `attest export --fleet [--period YYYY-MM] --out FILE.zip`.

It holds the period's current fleet attestation (PDF, HTML, JSON and their DSSE envelopes), the
datacenter certificates on record when it was issued — each site's newest `manual.site_certificate`
record per certificate number under the attestation's checkpoint, with its stored file and an
RFC 6962 inclusion proof in ``proofs.json`` (the fleet attestation itself cites no record) — the
provider's certificate chain, the guides and the signed manifest (kind ``fleet``, tenant null).
Nothing in it may name a tenant: every text entry is checked against every tenant's id and
legal name before anything is written.
"""

from __future__ import annotations

import json

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from attest.attestation import InclusionProof
from attest.canonical import canonical_json
from attest.config import LoadedConfig
from attest.errors import BadInput
from attest.fleet.model import FLEET_SCOPE, FleetAttestation
from attest.pack import CHAIN, MANIFEST, MANIFEST_ENVELOPE, PACK_PREDICATE_TYPE
from attest.pack.archive import write_zip
from attest.pack.build import Pack, _document_files, _what, choose_document, foreign_mentions
from attest.pack.certificates import SITE_CERTIFICATE_KIND, site_certificate_files
from attest.pack.guide import fleet_guides
from attest.pack.manifest import manifest_bytes
from attest.period import parse_period
from attest.signing import ProviderSigner
from attest.status import DocumentIndex
from evidence import merkle
from evidence.log import EvidenceLog

FLEET_KIND = "fleet"
PROOFS = "proofs.json"


def certificate_records(log: EvidenceLog, tree_size: int) -> dict[int, bytes]:
    """The newest site-certificate record per (site, certificate number) among the first
    *tree_size* leaves: the certificates on record when the attestation was issued."""
    newest: dict[tuple[str, str], tuple[int, bytes]] = {}
    for rec in log.records(kind=SITE_CERTIFICATE_KIND, up_to=tree_size):
        newest[(rec.subject, str(rec.payload.get("reference") or ""))] = (rec.idx, rec.body)
    return dict(sorted(newest.values()))


def proofs_json(log: EvidenceLog, records: dict[int, bytes], fleet: FleetAttestation) -> bytes:
    """Inclusion proofs of *records* under the attestation's checkpoint, after checking the log
    still has that checkpoint's root (a rewritten log is not packed)."""
    size = fleet.checkpoint.tree_size
    leaves = log.leaf_hashes(size)
    if len(leaves) != size or merkle.root(leaves).hex() != fleet.checkpoint.root_hash:
        raise BadInput(f"the evidence log no longer matches checkpoint {size} that {fleet.document_id} names "
                       "(run `attest evidence verify`); nothing was packed")
    paths = log.inclusion_proofs(sorted(records), size, leaves)
    proofs = [InclusionProof(leaf_index=i, leaf_hash=merkle.leaf_hash(records[i]).hex(),
                             audit_path=[h.hex() for h in paths[i]]).model_dump(mode="json") for i in sorted(records)]
    body = {"checkpoint": {"log_id": fleet.checkpoint.log_id, "tree_size": size,
                           "root_hash": fleet.checkpoint.root_hash}, "proofs": proofs}
    return json.dumps(json.loads(canonical_json(body)), indent=1, sort_keys=True).encode("utf-8") + b"\n"


def build_fleet_pack(loaded: LoadedConfig, log: EvidenceLog, signer: ProviderSigner, period: str | None) -> Pack:
    if period is not None:
        parse_period(period, loaded.model.time_zone)  # BadInput for anything but YYYY-MM
    from attest.verify import load_trust_anchors

    anchors = [loaded.resolve(p) for p in loaded.model.provider.trust_anchors]
    index = DocumentIndex.load(log, load_trust_anchors(anchors))
    status = choose_document(index, FLEET_SCOPE, period, label="the provider-wide attestation (attest render --fleet)")
    doc_files = _document_files(loaded, log, status)
    try:
        fleet = FleetAttestation.from_json_bytes(doc_files[f"{status.document_id}.json"])
    except ValueError:
        raise BadInput(f"{status.document_id}.json: not a provider-wide attestation; nothing was packed") from None
    if fleet.document_id != status.document_id:
        raise BadInput(f"{status.document_id}.json: names document {fleet.document_id}, not what the log recorded; "
                       "nothing was packed")
    records = certificate_records(log, fleet.checkpoint.tree_size)
    chain: list[x509.Certificate] = []
    for cert in [signer.certificate, *signer.chain,
                 *(x509.load_pem_x509_certificate(pem.encode()) for pem in fleet.checkpoint.signer_chain)]:
        if cert not in chain:
            chain.append(cert)
    files: dict[str, bytes] = {f"document/{name}": data for name, data in doc_files.items()}
    files.update({f"records/{idx}.json": body for idx, body in records.items()})
    files.update(site_certificate_files(log, records))
    files[PROOFS] = proofs_json(log, records, fleet)
    files[CHAIN] = b"".join(c.public_bytes(Encoding.PEM) for c in chain)
    files.update(fleet_guides(fleet.document_id, fleet.period, fleet.provider.name, fleet.checkpoint.tree_size,
                              fleet.checkpoint.root_hash, len(records), PROOFS, signer.certificate))
    tenants = {t.id: t.legal_name for t in loaded.model.tenants}
    if found := foreign_mentions(files, tenants):
        raise BadInput(f"{found[0]}{_what(found[0], files)} names a tenant ({found[1]}): a provider-wide pack names "
                       "none, so nothing was written")
    manifest = manifest_bytes(FLEET_KIND, fleet.document_id, None, fleet.period, fleet.checkpoint, fleet.generated_at,
                              signer.fingerprint, files)
    predicate = {"kind": FLEET_KIND, "document_id": fleet.document_id, "tenant": None, "period": fleet.period}
    files[MANIFEST] = manifest
    files[MANIFEST_ENVELOPE] = signer.dsse_envelope(MANIFEST, manifest, PACK_PREDICATE_TYPE, predicate,
                                                    deterministic=True)
    return Pack(write_zip(files), fleet.document_id, "", fleet.period, len(records), len(files))
