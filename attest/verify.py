"""Verification of what Attest signs: PAdES-certified PDFs and DSSE envelopes next to HTML/JSON.

A report is *valid* when the bytes are exactly what the signer signed and *trusted* when the
signer's certificate chains to one of the given anchors. ``ok`` needs both. Input that cannot be
judged at all (not a PDF, no signature, no envelope, garbage) raises ``UnusableInput``; the CLI
exits 2 on it.

After a PDF's certification signature only incremental updates may follow, each adding markup
annotations (a recipient's stamp) or LTV data (document timestamps, DSS). Stricter than DocMDP
P=3: no form filling or further signatures, no change to the document information or XMP beyond
the dates and producer a saving tool rewrites, no byte outside an update, no object an update's
cross-reference section does not list.

No network: revocation data is not fetched (``allow_fetching=False``), so a revoked certificate
is caught only through data embedded in the file. The signer certificate is validated at the
current time, with or without a timestamp.

Timestamps: a PAdES B-T signature carries an RFC 3161 signature timestamp token in its CMS
unsigned attributes; ``details["timestamp"]`` reports it (genTime, TSA, serial, policy, whether
its message imprint is the digest of the signature value, whether its own signature verifies,
whether the TSA chains to the trust anchors plus any ``tsa_trust_anchors``). A token that does
not match or does not verify makes the report invalid; a TSA that is not trusted makes it
untrusted (as in pyHanko's bottom line). Without a token (B-B) the report says "no timestamp"
and the signing time is only the signer's own claim, which is not a problem in itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.metadata import model as xmp_model
from pyhanko.pdf_utils.metadata.xmp_xml import XmpXmlProcessingError, parse_xmp
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader, RawPdfPath
from pyhanko.sign.diff_analysis import (
    CatalogModificationRule,
    DocInfoRule,
    DSSCompareRule,
    FormUpdate,
    FormUpdatingRule,
    GenericFieldModificationRule,
    MetadataUpdateRule,
    ModificationLevel,
    ObjectStreamRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    XrefStreamRule,
)
from pyhanko.sign.diff_analysis.policy_api import DiffResult, SuspiciousModification
from pyhanko.sign.diff_analysis.rules.form_field_rules import is_annot_visible
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
    signature_timestamp_tokens,
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
    signing_time: datetime | None = None  # as claimed by the signer (CMS signingTime, or the PDF's /M)
    timestamp: datetime | None = None  # genTime of a signature timestamp token that is intact and valid
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


def _validation_context(anchors: Sequence[x509.Certificate], moment: datetime | None = None) -> ValidationContext:
    # Always a list, even if empty: trust_roots=None would mean "the OS trust store".
    return ValidationContext(trust_roots=[_to_asn1(c) for c in anchors], allow_fetching=False, moment=moment)


def validate_signer_chain(
    chain: Sequence[x509.Certificate],
    trust_anchors: Sequence[x509.Certificate],
    *,
    at: datetime | None = None,
) -> str | None:
    """None if the signer certificate ``chain[0]`` (the rest: intermediates, in any order) has a
    valid path to one of *trust_anchors* at time *at* (default: now; a naive time is taken as
    UTC) and may sign (key usage digitalSignature or nonRepudiation). Otherwise a short reason
    in plain English naming the signer certificate. Nothing is fetched, so revocation is checked
    only against data the caller has (none here)."""
    if not chain:
        return "no signer certificate was given"
    leaf = chain[0]
    who = f"signer certificate '{leaf.subject.rfc4514_string()}'"
    if at is None:
        at = datetime.now(UTC)
    elif at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    validator = CertificateValidator(
        _to_asn1(leaf),
        intermediate_certs=[_to_asn1(c) for c in chain[1:]],
        validation_context=_validation_context(trust_anchors, moment=at),
    )
    try:
        path = asyncio.run(validator.async_validate_path())
    except cv_errors.PathBuildingError:
        return f"{who} {_missing_link(chain, trust_anchors)}"
    except cv_errors.InvalidCertificateError as e:  # a self-signed leaf no anchor matches
        if leaf.issuer == leaf.subject:
            return f"{who} {_missing_link(chain, trust_anchors)}"
        return f"{who} is not acceptable: {_short(e.failure_msg)}"
    except cv_errors.ExpiredError as e:
        which = _which(e, chain, trust_anchors, e.expired_dt, "not_valid_after_utc")
        return f"{who} {which}expired on {_when(e.expired_dt)}"
    except cv_errors.NotYetValidError as e:
        which = _which(e, chain, trust_anchors, e.valid_from, "not_valid_before_utc")
        return f"{who} {which}is not valid until {_when(e.valid_from)}"
    except cv_errors.RevokedError as e:
        return f"{who} {'is' if e.is_ee_cert else 'chains through a certificate that is'} revoked"
    except cv_errors.PathValidationError as e:
        return f"{who} does not validate against the trust anchors: {_short(e.failure_msg)}"
    try:
        _SIGNER_KEY_USAGE.validate(path.leaf)
    except cv_errors.InvalidCertificateError:
        return f"{who} may not sign: its key usage has neither digital signature nor non-repudiation"
    return None


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _which(
    error: cv_errors.PathValidationError,
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    moment: datetime,
    attribute: str,
) -> str:
    """"" if the problem is the signer certificate's own, else which issuer it is (as a clause)."""
    if error.is_ee_cert:
        return ""
    for cert in [*chain[1:], *anchors]:
        if getattr(cert, attribute) == moment.astimezone(UTC):
            return f"chains through '{cert.subject.rfc4514_string()}', which "
    return "chains through a certificate that "


def _missing_link(chain: Sequence[x509.Certificate], anchors: Sequence[x509.Certificate]) -> str:
    """Why no path to an anchor was found, as seen from the certificates given: follow the
    issuer names up through the chain and say where they stop."""
    leaf = chain[0]
    if leaf.issuer == leaf.subject:
        return "is self-signed and is not a trust anchor"
    walked, pool = [leaf], list(chain[1:])
    while walked[-1].issuer != walked[-1].subject:
        issuer = next((c for c in pool if c.subject == walked[-1].issuer), None)
        if issuer is None:
            break
        pool.remove(issuer)
        walked.append(issuer)
    top = walked[-1]
    rooted = top.issuer == top.subject  # the chain ends in a root that is not an anchor
    said = "is issued by " + ", which is issued by ".join(
        f"'{c.issuer.rfc4514_string()}'" for c in (walked[:-1] if rooted else walked)
    )
    if rooted:
        return f"{said}, which no trust anchor issued"
    if any(a.subject == top.issuer for a in anchors):
        return f"{said} (a trust anchor's name), but not with that trust anchor's key"
    return f"{said}, which no trust anchor issued (or whose certificate is missing from the chain)"


def _common_name(cert: asn1_x509.Certificate) -> str | None:
    cn = cert.subject.native.get("common_name")
    if isinstance(cn, list):  # several CNs: show them all rather than pick one
        return ", ".join(str(c) for c in cn)
    return None if cn is None else str(cn)


# --- dispatch --------------------------------------------------------------------------------


def verify_file(
    path: Path, trust_anchors: Sequence[x509.Certificate], *, tsa_trust_anchors: Sequence[x509.Certificate] = ()
) -> VerifyReport:
    """Verify a signed PDF, or an HTML/JSON file with its ``.dsse.json`` (either may be given).
    *tsa_trust_anchors* (e.g. ``provider.signing.tsa_ca_file``) are trusted for a PDF's
    signature timestamp only, on top of *trust_anchors*."""
    path = Path(path)
    if path.name.endswith(DSSE_SUFFIX):
        return verify_dsse(path, trust_anchors)
    try:
        with path.open("rb") as f:
            head = f.read(1024)
    except OSError as e:
        raise UnusableInput(f"cannot read {path}: {e.strerror}") from None
    if b"%PDF-" in head:  # the header may follow a little junk (ISO 32000-1 §7.5.2 tolerance)
        return verify_pdf(path, trust_anchors, tsa_trust_anchors=tsa_trust_anchors)
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

    The invisible widget of a new document timestamp may be added to a page too (at level
    LTA_UPDATES if that is all). pyHanko's SigFieldCreationRule would approve that widget, but
    it refuses every other new annotation on the page while a new signature field exists, so a
    stamp after a timestamp (or the reverse) would fail; its widget approval is turned off.
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
        level = ModificationLevel.LTA_UPDATES
        for ref in added:
            annot = new.get_object(ref)
            fresh = old.is_ref_unassignable(ref)  # a new object, not a reused/overwritten one
            if not (fresh and isinstance(annot, generic.DictionaryObject)):
                return
            if _is_doc_timestamp_widget(new, annot):
                continue  # the field and its signature are the form rule's to approve
            if not _is_plain_markup(annot):
                return
            level = ModificationLevel.ANNOTATIONS
            approved.append(ref)
            # Only objects introduced after signing; older ones they point to stay unexplained
            # if they were overwritten, so content cannot be smuggled in through an annotation.
            approved.extend(new.collect_dependencies(annot, since_revision=old.revision + 1))
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


def _is_doc_timestamp(obj: generic.PdfObject) -> bool:
    return isinstance(obj, generic.DictionaryObject) and obj.get("/Type") == "/DocTimeStamp"


def _is_doc_timestamp_widget(resolver: HistoricalResolver, annot: generic.DictionaryObject) -> bool:
    """An invisible widget merged with a signature field holding a document timestamp."""
    if annot.get("/Subtype") != "/Widget" or annot.get("/FT") != "/Sig" or "/Kids" in annot:
        return False
    if is_annot_visible(annot) or "/V" not in annot:
        return False
    value = annot.raw_get("/V")
    return isinstance(value, generic.IndirectObject) and _is_doc_timestamp(resolver.get_object(value.reference))


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


class _ForbiddenChange(SuspiciousModification):
    """A change after signing that our rules name in plain English; its message is the reason."""


# What a tool rewrites by itself when it saves an annotation or a timestamp; any other change to
# the document information or the XMP metadata after signing (a new /Title such as "All controls
# PASSED", a different author or subject) makes the PDF invalid.
_INFO_BOOKKEEPING = frozenset({"/ModDate", "/Producer"})
_XMP_BOOKKEEPING = frozenset(
    {
        xmp_model.ExpandedName(ns=xmp_model.NS["rdf"], local_name="about"),
        xmp_model.ExpandedName(ns=xmp_model.NS["xmp"], local_name="ModifyDate"),
        xmp_model.ExpandedName(ns=xmp_model.NS["xmp"], local_name="MetadataDate"),
        xmp_model.ExpandedName(ns=xmp_model.NS["pdf"], local_name="Producer"),
        xmp_model.ExpandedName(ns="http://ns.adobe.com/xap/1.0/mm/", local_name="InstanceID"),
        xmp_model.ExpandedName(ns="http://ns.adobe.com/xap/1.0/mm/", local_name="History"),
    }
)
_XMP_PREFIXES = {uri: prefix for prefix, uri in xmp_model.NS.items()} | {"http://ns.adobe.com/xap/1.0/mm/": "xmpMM"}


def _resolve(resolver: HistoricalResolver, value: generic.PdfObject | None) -> generic.PdfObject | None:
    if isinstance(value, generic.IndirectObject):
        return resolver.get_object(value.reference)
    return value


def _info_dict(resolver: HistoricalResolver) -> generic.DictionaryObject:
    try:
        info = _resolve(resolver, resolver.trailer_view.raw_get("/Info"))
    except KeyError:
        return generic.DictionaryObject()
    return info if isinstance(info, generic.DictionaryObject) else generic.DictionaryObject()


def _info_changes(old: HistoricalResolver, new: HistoricalResolver) -> list[str]:
    """Keys of the document information dictionary whose value differs (or that were added or
    removed), other than the save bookkeeping."""
    old_info, new_info = _info_dict(old), _info_dict(new)
    changed = []
    for key in sorted(set(old_info.keys()) | set(new_info.keys())):
        if key in _INFO_BOOKKEEPING:
            continue
        before = _resolve(old, old_info.raw_get(key)) if key in old_info else None
        after = _resolve(new, new_info.raw_get(key)) if key in new_info else None
        if before != after:
            changed.append(str(key).lstrip("/"))
    return changed


def _xmp_bytes(resolver: HistoricalResolver) -> bytes | None:
    try:
        stream = _resolve(resolver, resolver.root.raw_get("/Metadata"))
    except KeyError:
        return None
    if not isinstance(stream, generic.StreamObject):
        raise _ForbiddenChange("the XMP metadata is not a stream")
    data: bytes = stream.data
    return data


def _xmp_properties(data: bytes | None) -> dict[xmp_model.ExpandedName, list[xmp_model.XmpValue]]:
    if data is None:
        return {}
    props: dict[xmp_model.ExpandedName, list[xmp_model.XmpValue]] = {}
    for description in parse_xmp(BytesIO(data)):
        for name, value in description:
            props.setdefault(name, []).append(value)
    return props


def _xmp_changes(old: HistoricalResolver, new: HistoricalResolver) -> list[str]:
    """XMP properties (as prefix:name) whose value differs, other than the save bookkeeping."""
    try:
        before, after = _xmp_bytes(old), _xmp_bytes(new)
        if before == after:
            return []
        old_props, new_props = _xmp_properties(before), _xmp_properties(after)
    except (PdfError, XmpXmlProcessingError, ValueError, KeyError, TypeError):
        raise _ForbiddenChange("the XMP metadata was changed after signing and cannot be read") from None
    changed = [
        name for name in set(old_props) | set(new_props)
        if name not in _XMP_BOOKKEEPING and old_props.get(name) != new_props.get(name)
    ]
    return sorted(f"{_XMP_PREFIXES.get(n.ns, n.ns)}:{n.local_name}" for n in changed)


class _InfoBookkeepingRule(DocInfoRule):
    """pyHanko's DocInfoRule approves any change to the document information dictionary (at
    level LTA_UPDATES, which hides under ANNOTATIONS too); we approve only the save bookkeeping."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        changed = _info_changes(old, new)
        if changed:
            raise _ForbiddenChange(f"the document information ({', '.join(changed)}) was changed after signing")
        yield from super().apply(old, new)


class _XmpBookkeepingRule(MetadataUpdateRule):
    """pyHanko's MetadataUpdateRule approves any well-formed XMP; the XMP holds the title and
    description a viewer shows (dc:title, dc:description), so we approve only the bookkeeping."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        changed = _xmp_changes(old, new)
        if changed:
            raise _ForbiddenChange(f"the XMP metadata ({', '.join(changed)}) was changed after signing")
        yield from super().apply(old, new)


class _NoFormFillingRule(FormUpdatingRule):
    """pyHanko's form rules, minus everything they approve at level FORM_FILLING (filling fields,
    approval signatures, visible signature fields): DocMDP P=3 would allow those, the issue does
    not. What is left is approved at LTA_UPDATES: document timestamps in invisible signature
    fields (and empty invisible signature fields, which ``_review_updates`` then refuses)."""

    def apply(
        self, old: HistoricalResolver, new: HistoricalResolver
    ) -> Iterable[tuple[ModificationLevel, FormUpdate]]:
        for level, update in super().apply(old, new):
            if level <= ModificationLevel.LTA_UPDATES:
                yield level, update


_LTA = ModificationLevel.LTA_UPDATES
# pyHanko's DEFAULT_DIFF_POLICY with the Info/XMP rules narrowed, form filling dropped, orphaned
# new objects not waved through, and our markup annotation rule added.
_DIFF_POLICY = _AttestDiffPolicy(
    global_rules=[
        CatalogModificationRule(),
        _InfoBookkeepingRule().as_qualified(_LTA),
        XrefStreamRule().as_qualified(_LTA),
        ObjectStreamRule().as_qualified(_LTA),
        DSSCompareRule().as_qualified(_LTA),
        _XmpBookkeepingRule().as_qualified(_LTA),
        _AddedMarkupAnnotationRule(),
    ],
    form_rule=_NoFormFillingRule(
        field_rules=[
            SigFieldCreationRule(approve_widget_bindings=False),  # see _AddedMarkupAnnotationRule
            SigFieldModificationRule(),
            GenericFieldModificationRule(),
        ]
    ),
    ignore_orphaned_objects=False,
)
# Levels a certified Attest PDF may show: nothing changed, markup annotations added, or
# LTA_UPDATES, which ``_review_updates`` accepts only for document timestamps and DSS data.
_ACCEPTED_LEVELS = frozenset({ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.ANNOTATIONS})
# pyHanko asks for nonRepudiation by default; accept digitalSignature too (either suffices),
# since some CAs issue document-signing certificates with only one of them.
_SIGNER_KEY_USAGE = KeyUsageConstraints(
    key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False
)


@dataclass(frozen=True)
class _PdfFile:
    reader: PdfFileReader
    data: bytes  # the bytes the reader reads: the file, or the part of it up to a %%EOF
    dropped: int  # bytes after that part, which no reader could make sense of


def _open_pdf(data: bytes) -> PdfFileReader:
    reader = PdfFileReader(BytesIO(data))
    reader.root  # noqa: B018 - force the catalog to be read so a broken file fails here
    return reader


def _read_pdf(path: Path) -> _PdfFile:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnusableInput(f"cannot read {path}: {e.strerror}") from None
    if b"%PDF-" not in data[:1024]:
        raise UnusableInput(f"{path} is not a PDF")
    # Any exception from the parser means "unreadable": on malformed cross-reference streams
    # pyHanko 0.38 fails with an AssertionError, among others.
    try:
        return _PdfFile(_open_pdf(data), data, 0)
    except Exception as e:
        error = e
    # pyHanko looks for the last %%EOF in the final 1024 bytes only. A signed PDF with a longer
    # tail appended is not unusable but invalid, and the report should say so: read it up to an
    # earlier %%EOF (the last few only) and count the rest as appended.
    end = len(data)
    for _ in range(8):
        eof = data.rfind(b"%%EOF", 0, end)
        if eof < 0:
            break
        cut = _after_eol(data, eof + 5)
        try:
            return _PdfFile(_open_pdf(data[:cut]), data[:cut], len(data) - cut)
        except Exception:
            end = eof
    raise UnusableInput(f"{path} is not a readable PDF: {error}") from None


def _after_eol(data: bytes, pos: int) -> int:
    """*pos* moved past one end-of-line marker (CR, LF or CRLF), if one starts there."""
    if data[pos : pos + 2] == b"\r\n":
        return pos + 2
    if data[pos : pos + 1] in (b"\r", b"\n"):
        return pos + 1
    return pos


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


def verify_pdf(
    path: Path, trust_anchors: Sequence[x509.Certificate], *, tsa_trust_anchors: Sequence[x509.Certificate] = ()
) -> VerifyReport:
    path = Path(path)
    pdf = _read_pdf(path)
    reader = pdf.reader
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
    status = _judge_main_signature(main, trust_anchors, report, tsa_trust_anchors)
    for other in sigs:
        if other is not main:
            _judge_other_signature(other, trust_anchors, report)
    if status is not None:
        problems = _appended_bytes_problems(pdf, main)
        if problems:
            report.valid = False
            report.reasons.extend(problems)
    if status is not None and status.intact and status.valid:
        _check_attachment(reader, main.signed_revision, path, report, trust_anchors)
        if (
            status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
            and status.docmdp_ok
            and status.modification_level in _ACCEPTED_LEVELS
        ):
            _review_updates(reader, main.signed_revision, report)
        if status.modification_level == ModificationLevel.ANNOTATIONS:
            try:
                report.details["annotations_added"] = _added_annotations(reader, main.signed_revision)
            except (SuspiciousModification, PdfError, KeyError, TypeError):
                report.details["annotations_added"] = None  # approved by the diff rule, just not listable
    return report


def _judge_main_signature(
    sig: EmbeddedPdfSignature,
    anchors: Sequence[x509.Certificate],
    report: VerifyReport,
    tsa_anchors: Sequence[x509.Certificate] = (),
) -> PdfSignatureStatus | None:
    name = sig.field_name
    report.details["signature_field"] = name
    try:
        status = validate_pdf_signature(
            sig,
            _validation_context(anchors),
            ts_validation_context=_validation_context([*anchors, *tsa_anchors]),
            diff_policy=_DIFF_POLICY,
            key_usage_settings=_SIGNER_KEY_USAGE,
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
    _judge_timestamp(sig, status, report)
    return status


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _judge_timestamp(sig: EmbeddedPdfSignature, status: PdfSignatureStatus, report: VerifyReport) -> None:
    """Report the signing time the signer claims and the signature timestamp token, if any
    (PAdES B-T); a token that does not match or verify, or an untrusted TSA, is a reason."""
    name = sig.field_name
    signed_attrs = sig.signer_info["signed_attrs"]
    in_cms = bool(signed_attrs) and any(a["type"].native == "signing_time" for a in signed_attrs)
    report.details["signing_time_claimed"] = _iso(status.signer_reported_dt)
    report.details["signing_time_claimed_in"] = (
        "cms_signing_time" if in_cms else "pdf_signature_dictionary" if status.signer_reported_dt else None
    )
    ts = status.timestamp_validity
    try:
        tokens = signature_timestamp_tokens(sig.signer_info)
    except (ValueError, KeyError, TypeError):
        tokens = []
    if ts is None:
        report.details["pades_level"] = "B-B"
        report.details["timestamp"] = {
            "present": False,
            "summary": "no timestamp: the signing time is the signer's own claim",
        }
        return
    report.details["pades_level"] = "B-T"
    tsa = _common_name(ts.signing_cert) if ts.signing_cert is not None else None
    info = _token_facts(sig, tokens, ts.timestamp)
    report.details["timestamp"] = {
        "present": True,
        "time": _iso(ts.timestamp),
        "tsa": tsa,
        "tsa_fingerprint": ts.signing_cert.sha256.hex() if ts.signing_cert is not None else None,
        **info,
        "token_intact": ts.intact,
        "signature_valid": ts.valid,
        "trusted": ts.trusted,
        "summary": ts.summary(),
    }
    if len(tokens) > 1:
        report.details["timestamp"]["tokens"] = len(tokens)
    if not (status.intact and status.valid):
        return  # the signature itself is already the reason; its timestamp adds nothing
    who = f"timestamp authority '{tsa}'" if tsa else "the timestamp authority"
    if info.get("imprint_matches") is False:
        report.valid = False
        report.reasons.append(
            f"the timestamp token of signature '{name}' does not stamp this signature: its message imprint "
            "is not the digest of the signature value (a token taken from another signature, or altered)"
        )
    elif not ts.intact:
        report.valid = False
        report.reasons.append(
            f"the timestamp token of signature '{name}' was altered: its content does not match what "
            f"{who} signed"
        )
    elif not ts.valid:
        report.valid = False
        report.reasons.append(
            f"the timestamp token of signature '{name}' does not verify: the signature of {who} over it is "
            "invalid (the token was altered)"
        )
    elif not ts.trusted:
        report.trusted = False
        indic = ts.trust_problem_indic
        why = f" ({indic.standard_name})" if indic is not None else ""
        report.reasons.append(
            f"{who} is not trusted{why}: its certificate does not chain to a trust anchor for time stamping "
            "(add its CA with --trust, or set provider.signing.tsa_ca_file)"
        )
    else:
        report.timestamp = ts.timestamp


def _token_facts(sig: EmbeddedPdfSignature, tokens: list[Any], gen_time: datetime) -> dict[str, Any]:
    """Serial number, policy, TSA name and imprint check of the token pyHanko judged (the one
    with its genTime, if several). Empty if the token cannot be read this far."""
    try:
        infos = [t["content"]["encap_content_info"]["content"].parsed for t in tokens]
        info = next((i for i in infos if i["gen_time"].native == gen_time), infos[0])
        imprint = info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        expected = hashlib.new(algorithm, sig.signer_info["signature"].native).digest()
        tsa_name = info["tsa"]
        if tsa_name.native is None:
            named = None  # the field is optional
        elif tsa_name.name == "directory_name":
            named = tsa_name.chosen.human_friendly
        else:
            named = str(tsa_name.native)
        return {
            "tsa_name": named,
            "serial_number": info["serial_number"].native,
            "policy": info["policy"].dotted,
            "imprint_algorithm": algorithm,
            "imprint_matches": imprint["hashed_message"].native == expected,
        }
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return {}


def _signature_problems(name: str, status: PdfSignatureStatus) -> list[str]:
    if not status.intact:
        return [f"signature '{name}' does not match the document: bytes it covers were changed after signing"]
    if not status.valid:
        return [f"signature '{name}' is cryptographically invalid (signature value or signed attributes)"]
    problems = []
    if status.coverage is None or status.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        problems.append(f"signature '{name}' covers an unusual byte range, not a whole revision")
    elif isinstance(status.diff_result, _ForbiddenChange):
        problems.append(str(status.diff_result))  # already says what changed, in plain English
    elif not status.docmdp_ok or status.modification_level not in _ACCEPTED_LEVELS:
        # The second case: DocMDP P=3 would allow FORM_FILLING (filled fields, approval
        # signatures); the issue does not. Our policy no longer approves such changes at all.
        diff = status.diff_result
        # pyHanko's first line names the offending objects; the rest lists paths to them.
        first_line = (str(diff).splitlines() or [""])[0]
        why = f": {_short(first_line)}" if isinstance(diff, SuspiciousModification) and first_line else ""
        level = status.modification_level.name.lower() if status.modification_level is not None else "unknown"
        problems.append(
            f"the document was changed after signature '{name}' beyond what is permitted "
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
    """A later document timestamp (or any other signature) must itself be intact and valid; it
    need not be trusted. An approval signature after the certification never makes the file
    valid anyway: the diff policy refuses it (form filling is not permitted)."""
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


# --- what follows the signed revision --------------------------------------------------------

# "N G obj" where a PDF parser would see an object header.
_OBJ_HEADER = re.compile(rb"(?<![0-9])([0-9]{1,10})[\0\t\n\f\r ]+([0-9]{1,5})[\0\t\n\f\r ]+obj(?![A-Za-z0-9_])")


def _appended_bytes_problems(pdf: _PdfFile, sig: EmbeddedPdfSignature) -> list[str]:
    """Every byte after the signed range must belong to an incremental update, updates must
    follow one another, and an update may hold no object its cross-reference section does not
    list. pyHanko reads past trailing bytes (it looks for the last %%EOF near the end) and
    rates them ENTIRE_REVISION/NONE, so without this check anything may be appended; and a
    viewer that rebuilds a damaged cross-reference table would show an unlisted object."""
    data, xrefs = pdf.data, pdf.reader.xrefs
    byte_range = list(sig.byte_range)
    if len(byte_range) != 4 or byte_range[0] != 0:
        return []  # pyHanko rates the coverage UNCLEAR, which is already a reason
    pos = byte_range[2] + byte_range[3]
    if data[pos - 5 : pos] == b"%%EOF":
        pos = _after_eol(data, pos)  # an end-of-line left out of the signature carries nothing
    total = xrefs.total_revisions
    problems: list[str] = []
    for rev in range(sig.signed_revision + 1, total):
        meta = xrefs.get_xref_container_info(rev)
        which = f"the update after signing (revision {rev + 1} of {total})"
        eof = data.find(b"%%EOF", meta.end_location)
        if not pos <= meta.start_location < meta.end_location <= eof:
            return [*problems, f"{which} is not laid out as an incremental update after the signed content"]
        for match in _OBJ_HEADER.finditer(data, pos, meta.end_location):
            ref = generic.Reference(int(match[1]), int(match[2]))
            listed = xrefs.get_historical_ref(ref, rev) == match.start() or (
                ref == meta.stream_ref and match.start() == meta.start_location
            )
            if not listed:
                problems.append(
                    f"{which} contains object {ref.idnum} {ref.generation} that its cross-reference "
                    "section does not list (hidden content)"
                )
        pos = _after_eol(data, eof + 5)
    appended = len(data) - pos + pdf.dropped
    if appended:
        after = "the signed content" if total == sig.signed_revision + 1 else "the last incremental update"
        were = "bytes were" if appended != 1 else "byte was"
        problems.append(f"{appended} {were} appended after {after}, outside any revision")
    return problems


@dataclass
class _Update:
    """What one incremental update after the signed revision adds."""

    revision: int  # 1-based, as in "revision 3 of 3"
    annotations: int = 0  # new markup annotations
    timestamps: list[str] = field(default_factory=list)  # fields of new document timestamps
    dss: bool = False  # writes DSS (LTV validation data) objects
    unexplained: list[str] = field(default_factory=list)  # other objects it writes

    def summary(self) -> dict[str, Any]:
        kinds = (["annotations"] if self.annotations else []) + (
            ["ltv"] if self.timestamps or self.dss else []
        )
        return {
            "revision": self.revision,
            "kind": "+".join(kinds) or "nothing permitted",
            "annotations": self.annotations,
            "document_timestamps": self.timestamps,
            "dss": self.dss,
        }


def _review_updates(reader: PdfFileReader, signed_revision: int, report: VerifyReport) -> None:
    """Each incremental update after signing must add markup annotations (a recipient's stamp)
    or be LTV data only: document timestamps and DSS dictionaries, VRI and the certificates,
    CRLs and OCSP responses in them. Besides those, an update may rewrite only the file
    structure (cross-reference and object streams), the catalog, and the Info/XMP bookkeeping
    the diff policy has already vetted. pyHanko's modification level cannot tell us this: it is
    the maximum over all updates, and LTA_UPDATES also covers empty signature fields, orphaned
    objects and updates that add nothing."""
    total = reader.xrefs.total_revisions
    summaries = []
    for rev in range(signed_revision + 1, total):
        which = f"the update after signing (revision {rev + 1} of {total})"
        try:
            update = _classify_update(reader, rev)
        except (SuspiciousModification, PdfError, KeyError, TypeError, ValueError) as e:
            report.valid = False
            report.reasons.append(f"{which} cannot be analysed: {_short(e)}")
            continue
        summaries.append(update.summary())
        if update.unexplained:
            report.valid = False
            report.reasons.append(
                f"{which} changes objects that are neither annotations nor document timestamps or DSS "
                f"data: {_short(', '.join(update.unexplained))}"
            )
        elif not (update.annotations or update.timestamps or update.dss):
            report.valid = False
            report.reasons.append(f"{which} adds no annotation, document timestamp or DSS data")
    report.details["updates_after_signing"] = summaries
    ltv = [s["revision"] for s in summaries if s["kind"] == "ltv"]
    if ltv:
        report.details["ltv_updates"] = (
            f"revision(s) {', '.join(map(str, ltv))} add only document timestamps and DSS data "
            "(DSS dictionary, VRI, certificates and revocation data)"
        )


def _classify_update(reader: PdfFileReader, rev: int) -> _Update:
    old, new = reader.get_historical_resolver(rev - 1), reader.get_historical_resolver(rev)
    xrefs = reader.xrefs
    written = set(xrefs.explicit_refs_in_revision(rev))
    update = _Update(rev + 1)
    root = new.root
    # file structure and the bookkeeping the diff policy vetted
    explained: set[generic.Reference] = set(xrefs.object_streams_used_in(rev)) | {new.root_ref}
    stream_ref = xrefs.get_xref_container_info(rev).stream_ref
    if stream_ref is not None:
        explained.add(stream_ref)
    for owner, key in ((new.trailer_view, "/Info"), (root, "/Metadata")):
        raw = owner.raw_get(key) if key in owner else None
        if isinstance(raw, generic.IndirectObject):
            explained.add(raw.reference)
    # document timestamps: their signature dictionaries and the (merged field/widget) fields
    for ref in written:
        obj = new.get_object(ref)
        if not isinstance(obj, generic.DictionaryObject):
            continue
        if obj.get("/Type") == "/DocTimeStamp":
            explained.add(ref)
        elif obj.get("/FT") == "/Sig" and "/V" in obj:
            value = obj.raw_get("/V")
            if isinstance(value, generic.IndirectObject) and _is_doc_timestamp(new.get_object(value.reference)):
                explained.add(ref)
                update.timestamps.append(str(obj.get("/T", "")))
    if update.timestamps and "/AcroForm" in root:
        acroform = root.raw_get("/AcroForm")
        if isinstance(acroform, generic.IndirectObject):
            explained.add(acroform.reference)
        form = _resolve(new, acroform)
        if isinstance(form, generic.DictionaryObject) and "/Fields" in form:
            fields = form.raw_get("/Fields")
            if isinstance(fields, generic.IndirectObject):
                explained.add(fields.reference)
    # DSS: the dictionary, VRI and the streams and arrays they hold
    if "/DSS" in root:
        dss_refs = new.collect_dependencies(root.raw_get("/DSS"))
        update.dss = bool(written & dss_refs)
        explained |= dss_refs
    # markup annotations (with the new objects they use), and the pages they, or a timestamp's
    # widget, were added to
    old_pages = set(_leaf_pages(old.root["/Pages"]))
    for page_ref in _leaf_pages(root["/Pages"]):
        now, array_ref = _annot_refs(_as_dict(new.get_object(page_ref)))
        then = _annot_refs(_as_dict(old.get_object(page_ref)))[0] if page_ref in old_pages else []
        added = [r for r in now if r not in then]
        markup = [r for r in added if _is_plain_markup(_as_dict(new.get_object(r)))]
        if added and (len(markup) == len(added) or explained.issuperset(set(added) - set(markup))):
            explained.add(page_ref)
            if array_ref is not None:
                explained.add(array_ref)
        for ref in markup:
            explained.add(ref)
            explained |= new.collect_dependencies(new.get_object(ref), since_revision=rev)
        update.annotations += len(markup)
    update.unexplained = [
        _describe(new, ref) for ref in sorted(written - explained, key=lambda r: (r.idnum, r.generation))
        if not _unchanged(old, new, ref)
    ]
    return update


def _unchanged(old: HistoricalResolver, new: HistoricalResolver, ref: generic.Reference) -> bool:
    """True if *ref* was rewritten identically (some writers do; pyHanko ignores that too)."""
    if old.reader.xrefs.get_historical_ref(ref, old.revision) is None:
        return False  # a new object
    before, after = old.get_object(ref), new.get_object(ref)
    if isinstance(before, generic.StreamObject) or isinstance(after, generic.StreamObject):
        return (
            isinstance(before, generic.StreamObject)
            and isinstance(after, generic.StreamObject)
            and before == after
            and before.encoded_data == after.encoded_data
        )
    return bool(before == after)


def _describe(resolver: HistoricalResolver, ref: generic.Reference) -> str:
    obj = resolver.get_object(ref)
    kind = ""
    if isinstance(obj, generic.DictionaryObject):
        kind = " ".join(str(obj[k]) for k in ("/Type", "/FT", "/Subtype") if isinstance(obj.get(k), generic.NameObject))
    return f"object {ref.idnum}" + (f" ({kind})" if kind else "")


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


def _check_attachment(reader: PdfFileReader, revision: int, path: Path, report: VerifyReport,
                      trust_anchors: Sequence[x509.Certificate]) -> None:
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
    _check_evidence_claims(attached, trust_anchors, report)
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
            if ref in then_refs:
                continue
            annot = _as_dict(ref.get_object())
            if _is_plain_markup(annot):  # not a document timestamp's widget
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
    chain_problem = validate_signer_chain(env.certificates, trust_anchors)
    report.trusted = signature_ok and chain_problem is None
    if chain_problem and signature_ok:
        report.reasons.append(chain_problem)
    if not digest_problem and subject_path.suffix == ".json":
        _check_evidence_claims(subject_path.read_bytes(), trust_anchors, report)
    return report


def _check_evidence_claims(data: bytes, trust_anchors: Sequence[x509.Certificate], report: VerifyReport) -> None:
    """For an attestation's JSON: the checkpoint it names must be validly signed and every cited
    record must be proven in that checkpoint's tree. Other JSON is left alone."""
    from pydantic import ValidationError

    from attest.attestation import SCHEMA, Attestation
    from attest.fleet.model import FLEET_SCHEMA
    from attest.proofs import checkpoint_trust_problem, integrity_problems

    try:
        schema = json.loads(data).get("schema")
        if schema == FLEET_SCHEMA:
            _check_fleet_claims(data, trust_anchors, report)
            return
        if schema != SCHEMA:
            return
        att = Attestation.from_json_bytes(data)
    except (ValueError, AttributeError, ValidationError):
        report.valid = False
        report.reasons.append("the attestation data is not a well-formed attestation")
        return
    problems = integrity_problems(att)
    if problems:
        report.valid = False
        report.reasons.extend(problems)
        return
    trust = checkpoint_trust_problem(att, trust_anchors)
    if trust:
        report.trusted = False
        report.reasons.append(trust)
        return
    report.details["evidence_proofs"] = f"checkpoint signature and {len(att.proofs)} inclusion proof(s) check out"


def _check_fleet_claims(data: bytes, trust_anchors: Sequence[x509.Certificate], report: VerifyReport) -> None:
    """For a provider-wide (fleet) attestation: well formed, and its checkpoint validly signed by a
    trusted signer (it cites no record, so there are no inclusion proofs to check)."""
    from pydantic import ValidationError

    from attest.fleet.checks import checkpoint_problems, checkpoint_trust_problem
    from attest.fleet.model import FleetAttestation

    try:
        fleet = FleetAttestation.from_json_bytes(data)
    except (ValueError, ValidationError):
        report.valid = False
        report.reasons.append("the data is not a well-formed provider-wide attestation")
        return
    report.details["scope"] = "fleet"
    problems = checkpoint_problems(fleet.checkpoint)
    if problems:
        report.valid = False
        report.reasons.extend(problems)
        return
    trust = checkpoint_trust_problem(fleet.checkpoint, trust_anchors)
    if trust:
        report.trusted = False
        report.reasons.append(trust)
        return
    report.details["evidence_proofs"] = "checkpoint signature checks out (a provider-wide document cites no record)"


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
