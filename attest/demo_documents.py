"""The documents a real provider would add by hand, made up for the demo: each datacenter's
ISO/IEC 27001 certificate (a one-page PDF drawn with ReportLab) and restore-test reports. They go
into the log through the same code as `attest evidence add`, marked as demo material."""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from attest.config import Certification, LoadedConfig, ProxmoxSource, SiteConfig
from collectors.manual import add_manual_evidence
from evidence.log import CheckpointSigner, EvidenceLog

DEMO_AUTHOR = "attest demo (made-up document)"
# Tenants whose instances get no restore test in the demo: BK-04 fails for them, as it should.
NO_RESTORE_TEST = frozenset({"bellini"})
RESTORE_TEST_AGE = timedelta(days=20)


def certificate_pdf(site: SiteConfig, cert: Certification) -> bytes:
    buf = io.BytesIO()
    # invariant=1: no creation date or random id, so the same certificate has the same hash.
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=1)
    pdf.setTitle(f"{cert.standard} certificate {cert.number} (DEMO)")
    _, height = A4
    lines = [
        ("Helvetica-Bold", 20, "CERTIFICATE (DEMO – NOT A REAL CERTIFICATE)"),
        ("Helvetica", 12, f"Standard: {cert.standard}"),
        ("Helvetica", 12, f"Certificate number: {cert.number}"),
        ("Helvetica", 12, f"Issued by: {cert.issuer}"),
        ("Helvetica", 12, f"Organisation: {site.operator}"),
        ("Helvetica", 12, f"Site: {site.name}, {site.address} ({site.country})"),
        ("Helvetica", 12, f"Valid until: {cert.expires}"),
    ]
    y = height - 120
    for font, size, text in lines:
        pdf.setFont(font, size)
        pdf.drawString(60, y, text)
        y -= 30
    pdf.showPage()
    pdf.save()
    return buf.getvalue()


def restore_report(subject: str, performed: datetime) -> str:
    return (f"Restore test (DEMO – made-up report)\nInstance: {subject}\nPerformed: {performed:%Y-%m-%d %H:%M} UTC\n"
            "Restored the newest backup into an isolated test VM, booted it, registered a test phone and placed a "
            "call: OK.\n")


def add_demo_documents(loaded: LoadedConfig, log: EvidenceLog, signer: CheckpointSigner,
                       instances: dict[str, list[str]], wait_s: float = 0) -> int:
    """Add what is missing (a second demo run adds nothing). *instances*: tenant id -> guest
    subjects ("pve-main/qemu/101"). Returns how many documents were added."""
    have = {(r.kind, r.subject) for r in log.records(source="manual")}
    added = 0
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="attest-demo-docs-") as tmp:
        folder = Path(tmp)
        for site in loaded.model.sites:
            for cert in site.certifications:
                if ("manual.site_certificate", f"site/{site.id}") in have:
                    continue
                path = folder / f"certificate-{site.id}.pdf"
                path.write_bytes(certificate_pdf(site, cert))
                add_manual_evidence(loaded, log, signer, kind="site-certificate", path=path,
                                    subject=f"site/{site.id}", reference=cert.number,
                                    title=f"{cert.standard} certificate", added_by=DEMO_AUTHOR, wait_s=wait_s)
                added += 1
        pve = {s.id for s in loaded.model.sources if isinstance(s, ProxmoxSource)}
        for tenant_id, subjects in sorted(instances.items()):
            if tenant_id in NO_RESTORE_TEST:
                continue
            for subject in subjects:
                if ("manual.restore_test", subject) in have or subject.split("/", 1)[0] not in pve:
                    continue
                performed = now - RESTORE_TEST_AGE
                path = folder / f"restore-{subject.replace('/', '-')}.txt"
                path.write_text(restore_report(subject, performed), encoding="utf-8")
                add_manual_evidence(loaded, log, signer, kind="restore-test", path=path, subject=subject,
                                    performed_at=performed, title="Restore test", added_by=DEMO_AUTHOR,
                                    wait_s=wait_s)
                have.add(("manual.restore_test", subject))
                added += 1
    return added
