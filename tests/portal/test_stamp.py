"""Recipient stamps on shared PDFs (attest/portal/stamp.py): a real attestation issued by
`attest render` in a fresh `attest init` workspace (no collection: cheap), stamped, then judged
by `attest verify`, pyHanko and poppler's pdfsig; the signed revision must stay a byte prefix
whose SHA-256 is the one the evidence log recorded when the document was issued."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from attest.portal.stamp import MAX_RECIPIENT_CHARS, describe_stamps, original_revision, stamp_pdf, stamp_text
from attest.verify import _DIFF_POLICY, load_trust_anchors, verify_pdf
from tests.cli.test_demo_end_to_end import attest
from tests.portal.conftest import render

WHEN = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
RECIPIENT = "Comune di Bergamo — Ufficio Gare"


class Issued:
    def __init__(self, ws: Path, document_id: str) -> None:
        self.ws = ws
        self.document_id = document_id
        (self.path,) = (ws / "documents" / "acme").glob(f"*/{document_id}.pdf")
        self.pdf = self.path.read_bytes()
        self.ca = ws / "keys" / "demo-ca.pem"

    def recorded_pdf_digest(self) -> str:
        """files.pdf of the document's `attest.document` record, read straight from the log."""
        with sqlite3.connect(self.ws / "attest.db") as conn:
            bodies = [json.loads(b) for (b,) in conn.execute("SELECT body FROM records WHERE kind = 'attest.document'")]
        (payload,) = [b["payload"] for b in bodies if b["payload"]["document_id"] == self.document_id]
        digest: str = payload["files"]["pdf"]
        return digest


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    root = tmp_path_factory.mktemp("stamp")
    ws = root / "ws"
    assert attest("init", ws, cwd=root).returncode == 0
    return Issued(ws, render(ws, "acme"))


@pytest.fixture(scope="module")
def stamped(issued: Issued) -> bytes:
    return stamp_pdf(issued.pdf, RECIPIENT, WHEN, "it")


@pytest.fixture(scope="module")
def twice(stamped: bytes) -> bytes:
    return stamp_pdf(stamped, "ACME Impianti S.r.l. for tender 2026/145", datetime(2026, 11, 29, tzinfo=UTC))


def _write(tmp_path: Path, data: bytes, name: str = "shared.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _cli_verify(issued: Issued, path: Path) -> tuple[int, str]:
    proc = attest("verify", path, "--trust", issued.ca, cwd=path.parent)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())  # rich wraps long lines


# --- the signed revision ----------------------------------------------------------------------


def test_original_revision_is_a_prefix_with_the_recorded_digest(issued: Issued, stamped: bytes, twice: bytes) -> None:
    assert stamped.startswith(issued.pdf) and twice.startswith(stamped)
    for data in (issued.pdf, stamped, twice):
        assert original_revision(data) == issued.pdf
    assert hashlib.sha256(issued.pdf).hexdigest() == issued.recorded_pdf_digest()


def test_original_revision_of_an_unsigned_pdf_is_none() -> None:
    from tests.signing.conftest import render_pdf

    assert original_revision(render_pdf()) is None
    with pytest.raises(ValueError, match="not a PDF"):
        original_revision(b"hello")


# --- verifiers ----------------------------------------------------------------------------------


def test_attest_verify_cli_accepts_the_stamped_copy(issued: Issued, stamped: bytes, tmp_path: Path) -> None:
    code, text = _cli_verify(issued, _write(tmp_path, stamped))
    assert code == 0, text
    assert f"VALID {tmp_path / 'shared.pdf'}" in text and issued.document_id in text
    assert "1 annotation(s) added after signing, as the signature permits" in text


def test_verify_pdf_reports_a_permitted_annotation(issued: Issued, stamped: bytes, tmp_path: Path) -> None:
    report = verify_pdf(_write(tmp_path, stamped), load_trust_anchors([issued.ca]))
    assert report.ok, report.reasons
    assert report.details["modification_level"] == "annotations"
    assert report.details["docmdp"] == "annotate"
    assert report.details["annotations_added"] == [
        {"page": 1, "subtype": "Stamp", "contents": stamp_text(RECIPIENT, WHEN, "it")}
    ]
    assert report.details["updates_after_signing"] == [
        {"revision": 3, "kind": "annotations", "annotations": 1, "document_timestamps": [], "dss": False}
    ]


def _pyhanko_status(issued: Issued, data: bytes, **kwargs: Any) -> Any:
    reader = PdfFileReader(BytesIO(data))
    (sig,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=[load_cert_from_pemder(str(issued.ca))], allow_fetching=False)
    return sig, validate_pdf_signature(sig, context, **kwargs)


def test_pyhanko_sees_intact_content_and_permitted_annotations(issued: Issued, stamped: bytes, twice: bytes) -> None:
    for data in (stamped, twice):
        sig, status = _pyhanko_status(issued, data, diff_policy=_DIFF_POLICY)  # the policy `attest verify` uses
        assert sig.docmdp_level == MDPPerm.ANNOTATE
        assert status.intact and status.valid and status.trusted and status.docmdp_ok and status.bottom_line
        assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION  # an earlier revision, not the file
        assert status.modification_level == ModificationLevel.ANNOTATIONS
        assert "EXTENDED_WITH_ANNOTATIONS,ACCEPTABLE_MODIFICATIONS" in status.summary()


def test_pyhanko_default_policy_cannot_judge_annotations(issued: Issued, stamped: bytes) -> None:
    """Documented limitation (pyHanko "known issues"): its standard diff policy has no rule for
    annotations, so it calls any stamp illegal although the signature's bytes are intact."""
    _sig, status = _pyhanko_status(issued, stamped)
    assert status.intact and status.valid and status.trusted
    assert status.modification_level == ModificationLevel.OTHER and not status.bottom_line


@pytest.fixture(scope="module")
def nss_db(issued: Issued, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (shutil.which("pdfsig") and shutil.which("certutil")):
        pytest.skip("pdfsig/certutil not installed (apt: poppler-utils, libnss3-tools)")
    db = tmp_path_factory.mktemp("nssdb")
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{db}", "-n", "demo-ca", "-t", "C,C,C", "-i", issued.ca],
        check=True,
        capture_output=True,
    )
    return db


def _pdfsig(db: Path, path: Path) -> list[str]:
    proc = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{db}", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    return [line.strip(" -") for line in proc.stdout.splitlines()]


def test_pdfsig_still_validates_the_signature(nss_db: Path, stamped: bytes, twice: bytes, tmp_path: Path) -> None:
    for data in (stamped, twice):
        lines = _pdfsig(nss_db, _write(tmp_path, data))
        assert "Signature Validation: Signature is Valid." in lines, lines
        assert "Certificate Validation: Certificate is Trusted." in lines, lines
        assert "Not total document signed" in lines, lines  # the stamp is outside the signed bytes


def test_a_second_stamp_verifies_too(issued: Issued, twice: bytes, tmp_path: Path) -> None:
    report = verify_pdf(_write(tmp_path, twice), load_trust_anchors([issued.ca]))
    assert report.ok, report.reasons
    assert [u["kind"] for u in report.details["updates_after_signing"]] == ["annotations", "annotations"]
    assert describe_stamps(twice) == [
        stamp_text(RECIPIENT, WHEN, "it"),
        "Shared with ACME Impianti S.r.l. for tender 2026/145 on 29 November 2026 — provider content unchanged "
        "since signing",
    ]
    with pikepdf.open(BytesIO(twice)) as pdf:
        first, second = (a.Rect for a in pdf.pages[0].Annots if a.Subtype == "/Stamp")
        assert float(second[3]) < float(first[1])  # one above the other, not on top of each other


def test_altered_original_revision_fails(issued: Issued, stamped: bytes, tmp_path: Path) -> None:
    assert stamped[9:10] == b"%"  # the binary comment on line 2: signed, yet irrelevant to parsing
    data = bytearray(stamped)
    data[11] ^= 0x01
    path = _write(tmp_path, bytes(data))
    report = verify_pdf(path, load_trust_anchors([issued.ca]))
    assert not report.valid and "bytes it covers were changed after signing" in report.reasons[0]
    code, text = _cli_verify(issued, path)
    assert code == 1 and "INVALID" in text, text
    revision = original_revision(bytes(data))
    assert revision is not None and hashlib.sha256(revision).hexdigest() != issued.recorded_pdf_digest()


# --- content ----------------------------------------------------------------------------------


def test_describe_stamps(issued: Issued, stamped: bytes) -> None:
    assert describe_stamps(issued.pdf) == []
    assert describe_stamps(stamped) == [
        "Condiviso con Comune di Bergamo — Ufficio Gare il 28 novembre 2026 — contenuto del fornitore invariato "
        "dalla firma"
    ]


def test_stamp_is_print_visible_and_draws_with_no_font(issued: Issued, stamped: bytes, tmp_path: Path) -> None:
    """PDF/A: annotations print and have only a normal appearance; every font must be embedded, so
    the stamp uses none (its glyphs are outlines)."""
    with pikepdf.open(BytesIO(stamped)) as pdf:
        (stamp,) = [a for a in pdf.pages[0].Annots if a.Subtype == "/Stamp"]
        assert int(stamp.F) & 4 and not int(stamp.F) & (1 | 2 | 32 | 256)
        assert list(stamp.AP.keys()) == ["/N"] and len(stamp.AP.N.Resources.keys()) == 0
        assert "/DA" not in stamp and "/A" not in stamp
    if shutil.which("pdffonts"):
        before, after = _fonts(issued.path), _fonts(_write(tmp_path, stamped))
        assert after == before and all(row.split()[-5] == "yes" for row in after)  # the "emb" column


def _fonts(path: Path) -> list[str]:
    proc = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True, timeout=30)
    return proc.stdout.splitlines()[2:]


def test_stamped_copy_keeps_the_attached_attestation(issued: Issued, stamped: bytes) -> None:
    with pikepdf.open(BytesIO(stamped)) as pdf:
        attached = pdf.attachments["attestation.json"].get_file().read_bytes()
    assert attached == issued.path.with_suffix(".json").read_bytes()


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recipient", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("A" * (MAX_RECIPIENT_CHARS + 1), f"at most {MAX_RECIPIENT_CHARS}"),
        ("ACME\nS.p.A.", "control"),
        ("ACME\x00", "control"),
        ("ACME \u202eA.p.S", "control"),  # right-to-left override: the stamp would read backwards
        ("株式会社", "cannot draw"),
    ],
)
def test_bad_recipient_is_refused(issued: Issued, recipient: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stamp_pdf(issued.pdf, recipient, WHEN)


def test_recipient_spaces_are_normalised(issued: Issued) -> None:
    assert stamp_text("  ACME\u00a0 S.p.A. ", WHEN).startswith("Shared with ACME S.p.A. on 28 November 2026")
    assert stamp_text("A" * MAX_RECIPIENT_CHARS, WHEN)  # the cap itself is fine


def test_other_bad_input_is_refused(issued: Issued) -> None:
    from tests.signing.conftest import render_pdf

    with pytest.raises(ValueError, match="time zone"):
        stamp_pdf(issued.pdf, RECIPIENT, datetime(2026, 11, 28, 9, 30))
    with pytest.raises(ValueError, match="language"):
        stamp_pdf(issued.pdf, RECIPIENT, WHEN, "de")
    with pytest.raises(ValueError, match="no signature"):
        stamp_pdf(render_pdf(), RECIPIENT, WHEN)
    with pytest.raises(ValueError, match="not a PDF"):
        stamp_pdf(b"<html></html>", RECIPIENT, WHEN)


# --- PAdES B-T ----------------------------------------------------------------------------------


def test_stamped_b_t_document_keeps_its_timestamp(tmp_path: Path) -> None:
    from attest.lab.tsa import TimestampAuthority, TsaServer
    from attest.pki import create_demo_pki
    from attest.signing import ProviderSigner, TimestampSettings
    from tests.signing.conftest import PASSWORD, render_pdf

    pki = create_demo_pki(tmp_path / "pki", "Voce Cloud S.r.l.", PASSWORD, tsa=True)
    assert pki.tsa_p12 is not None
    with TsaServer(TimestampAuthority.from_pkcs12(pki.tsa_p12, PASSWORD)) as tsa:
        signer = ProviderSigner.load(pki.signer_p12, PASSWORD, timestamp=TimestampSettings(tsa.url))
        signed = signer.sign_pdf(render_pdf())
    shared = stamp_pdf(signed, "ACME S.p.A.", WHEN)
    assert original_revision(shared) == signed
    report = verify_pdf(_write(tmp_path, shared), load_trust_anchors([pki.ca_cert]))
    assert report.ok, report.reasons
    assert report.details["pades_level"] == "B-T" and report.timestamp is not None
    assert report.details["modification_level"] == "annotations"
