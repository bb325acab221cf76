"""Details are grouped per duty, and a result's fact tables are shown (bounded in print)."""

from __future__ import annotations

import re
from collections.abc import Callable

from attest.attestation import Attestation, FactTable, Result, Verdict
from attest.render.html import PDF_TABLE_ROW_LIMIT, render_html
from attest.render.pdf import render_pdf


def _backup_result(rows: int) -> Result:
    return Result(
        control_id="BK-02", title={"en": "Recent successful backup", "it": "Backup recente riuscito"},
        duty="backups", verdict=Verdict.PASS,
        reason={"en": "Backed up 5 hours ago.", "it": "Backup di 5 ore fa."},
        tables=[FactTable(
            title={"en": "Last backups of VM 101", "it": "Ultimi backup della VM 101"},
            columns=[{"en": "Date", "it": "Data"}, {"en": "Verification", "it": "Verifica"}],
            rows=[[f"2026-11-{(i % 28) + 1:02d} 01:30 UTC", "ok"] for i in range(rows)])],
    )


def _firewall_result() -> Result:
    return Result(control_id="FW-01", title={"en": "Firewall in force", "it": "Firewall attivo"}, duty="firewall",
                  verdict=Verdict.FAIL, reason={"en": "net0 has no firewall flag.", "it": "net0 senza firewall."})


def test_sections_per_duty_in_catalog_order(make_attestation: Callable[..., Attestation]) -> None:
    html = render_html(make_attestation(results=[_firewall_result(), _backup_result(3)]))
    sections = re.findall(r'<section class="duty" id="duty-(\w+)"', html)
    assert sections == ["backups", "firewall"]  # translations order: backups before firewall
    assert '<h3 id="duty-backups-h">Backups</h3>' in html
    assert "<caption>Last backups of VM 101</caption>" in html
    assert '<td data-label="Verification">ok</td>' in html


def test_italian_table_labels(make_attestation: Callable[..., Attestation]) -> None:
    html = render_html(make_attestation("it", results=[_backup_result(2)]))
    assert "<caption>Ultimi backup della VM 101</caption>" in html
    assert '<th scope="col">Verifica</th>' in html


def test_long_tables_are_bounded_in_print_only(make_attestation: Callable[..., Attestation]) -> None:
    html = render_html(make_attestation(results=[_backup_result(PDF_TABLE_ROW_LIMIT + 7)]))
    assert html.count('<tr class="beyond-print-limit">') == 7
    assert "… and 7 more rows" in html
    pdf = render_pdf(make_attestation(results=[_backup_result(PDF_TABLE_ROW_LIMIT + 7)]))
    assert pdf.startswith(b"%PDF-")
