"""Verification of what Attest signs: PAdES-certified PDFs and DSSE envelopes next to HTML/JSON.

A report is *valid* when the bytes are exactly what the signer signed (allowing only annotations
added later to a PDF, as its certification permits) and *trusted* when the signer's certificate
chains to one of the given anchors. ``ok`` needs both. Input that cannot be judged at all (not a
PDF, no signature, no envelope, garbage) raises ``UnusableInput``; the CLI exits 2 on it.

No network: revocation data is not fetched (``allow_fetching=False``), so a revoked certificate
is caught only through data embedded in the file. Without a timestamp, the certificate is
validated at the current time and the signing time is the signer's own claim.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader, RawPdfPath
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel, StandardDiffPolicy
from pyhanko.sign.diff_analysis.policy_api import DiffResult, SuspiciousModification
from pyhanko.sign.diff_analysis.rules_api import QualifiedWhitelistRule, ReferenceUpdate, RelativeContext
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as cv_errors

from attest.signing import (
    DSSE_PAYLOAD_TYPE,
    DSSE_SUFFIX,
    IN_TOTO_STATEMENT_TYPE,
    certificate_fingerprint,
    pae,
    verify_bytes,
)

log = logging.getLogger(__name__)

ATTACHMENT_NAME = "attestation.json"
_MAX_DETAIL = 300  # characters of a pyHanko message quoted in a reason


class UnusableInput(Exception):
    """The input cannot be verified at all (the CLI exits 2); the message says why."""


@dataclass
class VerifyReport:
    path: Path
    kind: str  # "pdf" | "dsse"
    valid: bool
    trusted: bool
    signer: str | None = None  # subject CN of the signer certificate
    signing_time: datetime | None = None  # as claimed by the signer (no timestamp authority yet)
    reasons: list[str] = field(default_factory=list)  # what is wrong, in plain English
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.valid and self.trusted


# --- trust anchors ---------------------------------------------------------------------------


def load_trust_anchors(paths: Sequence[Path]) -> list[x509.Certificate]:
    """Certificates from PEM files (several per file allowed; a lone DER certificate too)."""
    anchors: list[x509.Certificate] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise UnusableInput(f"cannot read trust anchor file {path}: {e.strerror}") from None
        try:
            if b"-----BEGIN" in data:
                anchors.extend(x509.load_pem_x509_certificates(data))
            else:
                anchors.append(x509.load_der_x509_certificate(data))
        except ValueError:
            raise UnusableInput(f"trust anchor file {path} holds no readable X.509 certificate") from None
    return anchors


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _validation_context(anchors: Sequence[x509.Certificate]) -> ValidationContext:
    # Always a list, even if empty: trust_roots=None would mean "the OS trust store".
    return ValidationContext(trust_roots=[_to_asn1(c) for c in anchors], allow_fetching=False)


def _common_name(cert: asn1_x509.Certificate) -> str | None:
    cn = cert.subject.native.get("common_name")
    if isinstance(cn, list):  # several CNs: show them all rather than pick one
        return ", ".join(str(c) for c in cn)
    return None if cn is None else str(cn)


# --- dispatch --------------------------------------------------------------------------------


def verify_file(path: Path, trust_anchors: Sequence[x509.Certificate]) -> VerifyReport:
    """Verify a signed PDF, or an HTML/JSON file with its ``.dsse.json`` (either may be given)."""
    path = Path(path)
    if path.name.endswith(DSSE_SUFFIX):
        return verify_dsse(path, trust_anchors)
    try:
        with path.open("rb") as f:
            head = f.read(1024)
    except OSError as e:
        raise UnusableInput(f"cannot read {path}: {e.strerror}") from None
    if b"%PDF-" in head:  # the header may follow a little junk (ISO 32000-1 §7.5.2 tolerance)
        return verify_pdf(path, trust_anchors)
    if _envelope_path(path).exists() or path.suffix.lower() in {".html", ".htm", ".json"}:
        return verify_dsse(path, trust_anchors)
    raise UnusableInput(f"{path} is not a PDF and has no signature envelope {_envelope_path(path).name}")


# --- PDF -------------------------------------------------------------------------------------

# Markup annotations a recipient may add after certification (DocMDP P=3). Not Link (it could
# redirect the verification link), Widget (form fields are judged by pyHanko's form rules),
# FileAttachment (it could smuggle a second attestation.json), nor multimedia/3D/redaction.
_STAMP_SUBTYPES = frozenset(
    {
        "/Text", "/FreeText", "/Stamp", "/Square", "/Circle", "/Line", "/Polygon", "/PolyLine",
        "/Highlight", "/Underline", "/Squiggly", "/StrikeOut", "/Caret", "/Ink", "/Popup",
    }
)


def _leaf_pages(node: generic.PdfObject, seen: frozenset[int] = frozenset()) -> list[generic.Reference]:
    """References of all pages in document order; an empty list if the tree looks odd (a cycle,
    a direct kid, a non-dictionary). Our rule then approves nothing and pyHanko reports the
    change as unexplained."""
    kids = node.get_object().get("/Kids") if isinstance(node.get_object(), generic.DictionaryObject) else None
    if not isinstance(kids, generic.ArrayObject) or len(seen) > 64:
        return []
    out: list[generic.Reference] = []
    for kid in kids:
        if not isinstance(kid, generic.IndirectObject) or kid.reference.idnum in seen:
            return []
        obj = kid.get_object()
        if not isinstance(obj, generic.DictionaryObject):
            return []
        if obj.get("/Type") == "/Pages":
            sub = _leaf_pages(obj, seen | {kid.reference.idnum})
            if not sub:
                return []
            out.extend(sub)
        else:
            out.append(kid.reference)
    return out


def _annot_refs(page: generic.DictionaryObject) -> tuple[list[generic.Reference], generic.Reference | None]:
    """(annotation references, reference of the /Annots array if it is indirect)."""
    try:
        raw = page.raw_get("/Annots")
    except KeyError:
        return [], None
    array_ref = raw.reference if isinstance(raw, generic.IndirectObject) else None
    array = raw.get_object()
    if not isinstance(array, generic.ArrayObject):
        raise SuspiciousModification("a page's /Annots is not an array")
    refs = [a.reference for a in array if isinstance(a, generic.IndirectObject)]
    if len(refs) != len(array):
        raise SuspiciousModification("a page's /Annots holds direct objects")
    return refs, array_ref


class _AddedMarkupAnnotationRule(QualifiedWhitelistRule):
    """Approve, at level ANNOTATIONS, pages whose only change is new markup annotations (a
    recipient's stamp or note) plus the new objects those annotations use.

    pyHanko's standard policy has no such rule (its ANNOTATIONS level is unused), so without
    this a stamp would void the certification. We stay stricter than DocMDP P=3: annotations
    present at signing may not be changed or removed, and new ones must be fresh objects of a
    markup subtype without actions.
    """

    def apply_qualified(
        self, old: HistoricalResolver, new: HistoricalResolver
    ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        old_pages = _leaf_pages(old.root["/Pages"])
        if not old_pages or old_pages != _leaf_pages(new.root["/Pages"]):
            return  # page tree changed: not ours to explain
        for page_ref in old_pages:
            yield from self._page_updates(old, new, page_ref)

    def _page_updates(
        self, old: HistoricalResolver, new: HistoricalResolver, page_ref: generic.Reference
    ) -> Iterator[tuple[ModificationLevel, ReferenceUpdate]]:
        old_page, new_page = old.get_object(page_ref), new.get_object(page_ref)
        try:
            old_annots, old_array_ref = _annot_refs(old_page)
            new_annots, new_array_ref = _annot_refs(new_page)
        except SuspiciousModification:
            return
        added = [r for r in new_annots if r not in old_annots]
        if not added or any(r not in new_annots for r in old_annots):
            return
        # Anything on the page but /Annots changed (content, resources, boxes): not a stamp.
        if (set(old_page.keys()) ^ set(new_page.keys())) - {"/Annots"}:
            return
        if any(old_page.raw_get(k) != new_page.raw_get(k) for k in old_page if k != "/Annots"):
            return
        approved: list[generic.Reference] = []
        for ref in added:
            annot = new.get_object(ref)
            fresh = old.is_ref_unassignable(ref)  # a new object, not a reused/overwritten one
            if not (fresh and isinstance(annot, generic.DictionaryObject) and _is_plain_markup(annot)):
                return
            approved.append(ref)
            # Only objects introduced after signing; older ones they point to stay unexplained
            # if they were overwritten, so content cannot be smuggled in through an annotation.
            approved.extend(new.collect_dependencies(annot, since_revision=old.revision + 1))
        level = ModificationLevel.ANNOTATIONS
        yield level, ReferenceUpdate(page_ref)  # blanket: pages are referenced from many places
        if new_array_ref is not None and (
            new_array_ref == old_array_ref or old.is_ref_unassignable(new_array_ref)
        ):
            # Clear the array only as reached through this page, as pyHanko's own rules do.
            context = RelativeContext(page_ref, RawPdfPath("/Annots"))
            yield level, ReferenceUpdate(new_array_ref, context_checked=context)
        for ref in approved:
            yield level, ReferenceUpdate(ref)


def _is_plain_markup(annot: generic.DictionaryObject) -> bool:
    return annot.get("/Subtype") in _STAMP_SUBTYPES and "/A" not in annot and "/AA" not in annot


class _AttestDiffPolicy(StandardDiffPolicy):
    def apply(
        self,
        old: HistoricalResolver,
        new: HistoricalResolver,
        field_mdp_spec: FieldMDPSpec | None = None,
        doc_mdp: MDPPerm | None = None,
    ) -> DiffResult:
        # StandardDiffPolicy logs a warning for P=3. It uses doc_mdp only to refuse form updates
        # that need an approval signature, where any non-None level acts the same; the level
        # itself is compared with the result outside the policy, with the real DocMDP value.
        if doc_mdp == MDPPerm.ANNOTATE:
            doc_mdp = MDPPerm.FILL_FORMS
        return super().apply(old, new, field_mdp_spec=field_mdp_spec, doc_mdp=doc_mdp)


_DIFF_POLICY = _AttestDiffPolicy(
    global_rules=[*DEFAULT_DIFF_POLICY.global_rules, _AddedMarkupAnnotationRule()],
    form_rule=DEFAULT_DIFF_POLICY.form_rule,
)
# pyHanko asks for nonRepudiation by default; accept digitalSignature too (either suffices),
# since some CAs issue document-signing certificates with only one of them.
_PDF_KEY_USAGE = KeyUsageConstraints(
    key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False
)


def _read_pdf(path: Path) -> PdfFileReader:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnusableInput(f"cannot read {path}: {e.strerror}") from None
    if b"%PDF-" not in data[:1024]:
        raise UnusableInput(f"{path} is not a PDF")
    try:
        reader = PdfFileReader(BytesIO(data))
        reader.root  # noqa: B018 - force the catalog to be read so a broken file fails here
    except (PdfError, ValueError, KeyError, TypeError) as e:
        raise UnusableInput(f"{path} is not a readable PDF: {e}") from None
    return reader


def _certifying_signature(
    reader: PdfFileReader, sigs: list[EmbeddedPdfSignature]
) -> EmbeddedPdfSignature | None:
    """The signature the catalog's /Perms /DocMDP points at, if any."""
    try:
        perm_ref = reader.root["/Perms"].raw_get("/DocMDP")
    except (KeyError, TypeError):
        return None
    if not isinstance(perm_ref, generic.IndirectObject):
        return None
    for sig in sigs:
        value = sig.sig_field.raw_get("/V")
        if isinstance(value, generic.IndirectObject) and value.reference == perm_ref.reference:
            return sig
    return None


def verify_pdf(path: Path, trust_anchors: Sequence[x509.Certificate]) -> VerifyReport:
    path = Path(path)
    reader = _read_pdf(path)
    try:
        sigs = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, TypeError) as e:
        reason = f"a signature in the file cannot be read: {_short(e)}"
        return VerifyReport(path, "pdf", valid=False, trusted=False, reasons=[reason])
    if not any(s.sig_object_type == "/Sig" for s in sigs):
        raise UnusableInput(f"{path} contains no signature")

    report = VerifyReport(path, "pdf", valid=True, trusted=False)
    report.details["revisions"] = reader.xrefs.total_revisions
    main = _certifying_signature(reader, sigs)
    if main is None:
        report.valid = False
        report.reasons.append("the PDF is signed but not certified (no DocMDP certification signature)")
        main = next(s for s in sigs if s.sig_object_type == "/Sig")
    status = _judge_main_signature(main, trust_anchors, report)
    for other in sigs:
        if other is not main:
            _judge_other_signature(other, trust_anchors, report)
    if status is not None and status.intact and status.valid:
        _check_attachment(reader, main.signed_revision, path, report)
        if status.modification_level == ModificationLevel.ANNOTATIONS:
            try:
                report.details["annotations_added"] = _added_annotations(reader, main.signed_revision)
            except (SuspiciousModification, PdfError, KeyError, TypeError):
                report.details["annotations_added"] = None  # approved by the diff rule, just not listable
    return report


def _judge_main_signature(
    sig: EmbeddedPdfSignature, anchors: Sequence[x509.Certificate], report: VerifyReport
) -> PdfSignatureStatus | None:
    name = sig.field_name
    report.details["signature_field"] = name
    try:
        status = validate_pdf_signature(
            sig, _validation_context(anchors), diff_policy=_DIFF_POLICY, key_usage_settings=_PDF_KEY_USAGE
        )
    except (SignatureValidationError, PdfError, ValueError) as e:
        report.valid = False
        report.reasons.append(f"signature '{name}' cannot be validated: {_short(e)}")
        return None
    report.signer = _common_name(status.signing_cert)
    report.signing_time = status.signer_reported_dt
    report.trusted = status.trusted
    report.details.update(
        {
            "signer_fingerprint": status.signing_cert.sha256.hex(),
            "coverage": status.coverage.name.lower() if status.coverage is not None else None,
            "modification_level": (
                status.modification_level.name.lower()
                if status.intact and status.modification_level is not None
                else None
            ),
            "docmdp": sig.docmdp_level.name.lower() if sig.docmdp_level is not None else None,
            "pyhanko_summary": status.summary(),
        }
    )
    report.reasons.extend(_signature_problems(name, status))
    if report.reasons:
        report.valid = False
    if status.intact and status.valid and not status.trusted:
        report.reasons.append(_trust_problem(report.signer, status))
    return status


def _signature_problems(name: str, status: PdfSignatureStatus) -> list[str]:
    if not status.intact:
        return [f"signature '{name}' does not match the document: bytes it covers were changed after signing"]
    if not status.valid:
        return [f"signature '{name}' is cryptographically invalid (signature value or signed attributes)"]
    problems = []
    if status.coverage is None or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        problems.append(f"signature '{name}' covers an unusual byte range, not a whole revision")
    elif not status.docmdp_ok:
        diff = status.diff_result
        # pyHanko's first line names the offending objects; the rest lists paths to them.
        first_line = (str(diff).splitlines() or [""])[0]
        why = f": {_short(first_line)}" if isinstance(diff, SuspiciousModification) and first_line else ""
        level = status.modification_level.name.lower() if status.modification_level is not None else "unknown"
        problems.append(
            f"the document was changed after signature '{name}' beyond what its certification allows "
            f"(only annotations may be added; found modification level '{level}'){why}"
        )
    if not status.seed_value_ok:
        problems.append(f"signature '{name}' breaks its field's seed-value constraints")
    return problems


def _trust_problem(signer: str | None, status: PdfSignatureStatus) -> str:
    who = f"signer certificate '{signer}'" if signer else "the signer certificate"
    if status.revoked:
        return f"{who} is revoked"
    if status.validation_path is None:
        return f"{who} does not chain to a trusted anchor"
    indic = status.trust_problem_indic
    return f"{who} is not trusted ({indic.standard_name if indic is not None else 'unknown problem'})"


def _judge_other_signature(
    sig: EmbeddedPdfSignature, anchors: Sequence[x509.Certificate], report: VerifyReport
) -> None:
    """A later approval signature or document timestamp must itself be intact and valid; it need
    not be trusted (a recipient may countersign with their own key)."""
    name = sig.field_name
    try:
        if sig.sig_object_type == "/DocTimeStamp":
            status: Any = validate_pdf_timestamp(sig, _validation_context(anchors), diff_policy=_DIFF_POLICY)
        else:
            status = validate_pdf_signature(sig, _validation_context(anchors), diff_policy=_DIFF_POLICY)
    except (SignatureValidationError, PdfError, ValueError) as e:
        report.valid = False
        report.reasons.append(f"signature '{name}' cannot be validated: {_short(e)}")
        return
    report.details.setdefault("other_signatures", []).append({"field": name, "summary": status.summary()})
    if not (status.intact and status.valid):
        report.valid = False
        report.reasons.append(
            f"signature '{name}' is invalid: the bytes it covers changed, or its value is wrong"
        )


# --- the attached attestation.json -----------------------------------------------------------


def _name_tree_items(node: generic.PdfObject, depth: int = 0) -> Iterator[tuple[str, generic.PdfObject]]:
    node = node.get_object()
    if depth > 32 or not isinstance(node, generic.DictionaryObject):
        return
    names = node.get("/Names")
    if isinstance(names, generic.ArrayObject):
        for i in range(0, len(names) - 1, 2):
            yield str(names[i]), names[i + 1]
    kids = node.get("/Kids")
    if isinstance(kids, generic.ArrayObject):
        for kid in kids:
            yield from _name_tree_items(kid, depth + 1)


def _attachment_in_revision(reader: PdfFileReader, revision: int, name: str) -> bytes | None:
    """Bytes of the embedded file *name* as the document stood in *revision* (the signed one:
    what was attached later is not covered by the signature)."""
    root = reader.get_historical_root(revision)
    try:
        tree = root["/Names"]["/EmbeddedFiles"]
    except (KeyError, TypeError):
        return None
    for key, spec in _name_tree_items(tree):
        spec = spec.get_object()
        if not isinstance(spec, generic.DictionaryObject):
            continue
        if name in (key, str(spec.get("/UF", "")), str(spec.get("/F", ""))):
            stream = spec["/EF"]["/F"].get_object()
            data: bytes = stream.data
            return data
    return None


def _check_attachment(reader: PdfFileReader, revision: int, path: Path, report: VerifyReport) -> None:
    try:
        attached = _attachment_in_revision(reader, revision, ATTACHMENT_NAME)
    except (PdfError, KeyError, TypeError, ValueError) as e:
        report.valid = False
        report.reasons.append(f"the attached {ATTACHMENT_NAME} cannot be read: {_short(e)}")
        return
    if attached is None:
        report.valid = False
        report.reasons.append(f"the signed document has no attached {ATTACHMENT_NAME}")
        return
    report.details["attachment_sha256"] = hashlib.sha256(attached).hexdigest()
    try:
        parsed = json.loads(attached)
    except (UnicodeDecodeError, json.JSONDecodeError):
        report.valid = False
        report.reasons.append(f"the attached {ATTACHMENT_NAME} is not valid JSON")
        return
    if isinstance(parsed, dict) and isinstance(parsed.get("document_id"), str):
        report.details["document_id"] = parsed["document_id"]
    sibling = path.with_suffix(".json")
    if sibling.is_file():
        try:
            same = sibling.read_bytes() == attached
        except OSError as e:
            raise UnusableInput(f"cannot read {sibling}: {e.strerror}") from None
        report.details["sibling_json_matches"] = same
        if not same:
            report.valid = False
            report.reasons.append(f"{sibling.name} differs from the {ATTACHMENT_NAME} signed inside the PDF")


def _added_annotations(reader: PdfFileReader, signed_revision: int) -> list[dict[str, Any]]:
    """Annotations present now but not at signing: shown to the reader, since a stamp can sit on
    top of the signed content and say anything."""
    signed = reader.get_historical_resolver(signed_revision)
    out: list[dict[str, Any]] = []
    for number, page_ref in enumerate(_leaf_pages(reader.root["/Pages"]), start=1):
        now_refs, _ = _annot_refs(_as_dict(page_ref.get_object()))
        then_refs, _ = _annot_refs(_as_dict(signed.get_object(page_ref)))
        for ref in now_refs:
            if ref not in then_refs:
                annot = _as_dict(ref.get_object())
                subtype = str(annot.get("/Subtype", "")).lstrip("/")
                out.append({"page": number, "subtype": subtype, "contents": str(annot.get("/Contents", ""))})
    return out


def _as_dict(obj: generic.PdfObject) -> generic.DictionaryObject:
    if not isinstance(obj, generic.DictionaryObject):
        raise SuspiciousModification("expected a dictionary in the page tree")
    return obj


def _short(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


# --- DSSE ------------------------------------------------------------------------------------


def _envelope_path(subject: Path) -> Path:
    return subject.with_name(subject.name + DSSE_SUFFIX)


@dataclass(frozen=True)
class _Envelope:
    payload: bytes
    signatures: list[tuple[str | None, bytes]]  # (keyid, signature)
    certificates: list[x509.Certificate]  # leaf first
    statement: dict[str, Any]


def _b64decode(text: object, what: str, where: Path) -> bytes:
    if not isinstance(text, str):
        raise UnusableInput(f"{where}: {what} is not a base64 string")
    padded = text + "=" * (-len(text) % 4)
    for altchars in (None, b"-_"):  # DSSE allows standard or URL-safe base64
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise UnusableInput(f"{where}: {what} is not valid base64")


def _parse_envelope(env_path: Path) -> _Envelope:
    try:
        raw = json.loads(env_path.read_bytes())
    except OSError as e:
        raise UnusableInput(f"cannot read {env_path}: {e.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UnusableInput(f"{env_path} is not JSON") from None
    if not isinstance(raw, dict) or raw.get("payloadType") != DSSE_PAYLOAD_TYPE:
        raise UnusableInput(f"{env_path} is not a DSSE envelope with payloadType {DSSE_PAYLOAD_TYPE}")
    payload = _b64decode(raw.get("payload"), "payload", env_path)
    sig_list = raw.get("signatures")
    if not isinstance(sig_list, list) or not sig_list or not all(isinstance(s, dict) for s in sig_list):
        raise UnusableInput(f"{env_path} has no signatures")
    signatures = [(s.get("keyid"), _b64decode(s.get("sig"), "a signature", env_path)) for s in sig_list]
    pems = raw.get("certificates")
    if not isinstance(pems, list) or not pems or not all(isinstance(p, str) for p in pems):
        raise UnusableInput(f"{env_path} carries no signer certificate")
    try:
        certs = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    except ValueError:
        raise UnusableInput(f"{env_path}: a carried certificate is not a PEM X.509 certificate") from None
    try:
        statement = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UnusableInput(f"{env_path}: the payload is not JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") != IN_TOTO_STATEMENT_TYPE:
        raise UnusableInput(f"{env_path}: the payload is not an in-toto Statement v1")
    return _Envelope(payload, signatures, certs, statement)


def _subject_and_envelope(path: Path) -> tuple[Path, Path]:
    if path.name.endswith(DSSE_SUFFIX):
        subject = path.with_name(path.name[: -len(DSSE_SUFFIX)])
        if not subject.is_file():
            raise UnusableInput(f"{path} signs {subject.name}, which is not next to it")
        return subject, path
    envelope = _envelope_path(path)
    if not path.is_file():
        raise UnusableInput(f"cannot read {path}: no such file")
    if not envelope.is_file():
        raise UnusableInput(f"{path} has no signature envelope {envelope.name} next to it")
    return path, envelope


def _chain_problem(env: _Envelope, anchors: Sequence[x509.Certificate]) -> str | None:
    """None if the leaf certificate chains to an anchor and may make digital signatures."""
    leaf = env.certificates[0]
    who = f"signer certificate '{leaf.subject.rfc4514_string()}'"
    validator = CertificateValidator(
        _to_asn1(leaf),
        intermediate_certs=[_to_asn1(c) for c in env.certificates[1:]],
        validation_context=_validation_context(anchors),
    )
    try:
        asyncio.run(validator.async_validate_usage({"digital_signature"}))
    except cv_errors.PathBuildingError:
        return f"{who} does not chain to a trusted anchor"
    except cv_errors.RevokedError:
        return f"{who} is revoked"
    except cv_errors.ExpiredError:
        return f"{who} (or its chain) has expired"
    except cv_errors.NotYetValidError:
        return f"{who} (or its chain) is not yet valid"
    except (cv_errors.PathValidationError, cv_errors.InvalidCertificateError) as e:
        return f"{who} is not acceptable: {_short(e)}"
    return None


def _leaf_cn(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def verify_dsse(path: Path, trust_anchors: Sequence[x509.Certificate]) -> VerifyReport:
    """Verify an HTML/JSON file against its ``<file>.dsse.json`` (either path may be given)."""
    subject_path, env_path = _subject_and_envelope(Path(path))
    env = _parse_envelope(env_path)
    leaf = env.certificates[0]
    fingerprint = certificate_fingerprint(leaf)
    report = VerifyReport(subject_path, "dsse", valid=True, trusted=False, signer=_leaf_cn(leaf))
    report.details.update(
        {
            "envelope": str(env_path),
            "signer_fingerprint": fingerprint,
            "predicate_type": env.statement.get("predicateType"),
        }
    )
    predicate = env.statement.get("predicate")
    if isinstance(predicate, dict) and isinstance(predicate.get("document_id"), str):
        report.details["document_id"] = predicate["document_id"]

    signed_bytes = pae(DSSE_PAYLOAD_TYPE, env.payload)
    candidates = [sig for keyid, sig in env.signatures if keyid in (None, "", fingerprint)]
    signature_ok = any(verify_bytes(leaf, signed_bytes, sig) for sig in candidates)
    if not signature_ok:
        report.valid = False
        report.reasons.append(
            f"the envelope signature in {env_path.name} does not verify with the certificate it carries: "
            "the statement or the signature was altered"
        )
    digest_problem = _subject_problem(env.statement, subject_path)
    if digest_problem:
        report.valid = False
        report.reasons.append(digest_problem)
    chain_problem = _chain_problem(env, trust_anchors)
    report.trusted = signature_ok and chain_problem is None
    if chain_problem and signature_ok:
        report.reasons.append(chain_problem)
    return report


def _subject_problem(statement: dict[str, Any], subject_path: Path) -> str | None:
    subjects = statement.get("subject")
    if not isinstance(subjects, list):
        return "the signed statement lists no subject"
    named = [s for s in subjects if isinstance(s, dict) and s.get("name") == subject_path.name]
    if not named:
        listed = ", ".join(str(s.get("name")) for s in subjects if isinstance(s, dict)) or "nothing"
        return f"the signed statement covers {listed}, not {subject_path.name}"
    expected = named[0].get("digest", {}).get("sha256") if isinstance(named[0].get("digest"), dict) else None
    if not isinstance(expected, str):
        return f"the signed statement gives no SHA-256 digest for {subject_path.name}"
    actual = hashlib.sha256(subject_path.read_bytes()).hexdigest()
    if actual != expected.lower():
        return (
            f"{subject_path.name} was changed after signing: its SHA-256 digest {actual[:16]}… "
            f"does not match the signed digest {expected[:16]}…"
        )
    return None
