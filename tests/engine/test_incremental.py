"""Bulk and incremental issuing (issue 6 item 7): a document is issued again only when what it
shows (its attestation JSON, language and provider identity included) or the templates/catalog
changed; an unchanged one stays current, its files untouched. Worker processes render the same
bytes as the parent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import attest.incremental as incremental
from attest.config import LoadedConfig
from attest.engine import evaluate
from attest.issue import IssuedDocument, issue, render_all
from attest.signing import ProviderSigner
from evidence.log import DOCUMENT_KIND, EvidenceLog
from tests.engine.builder import config_doc, load, period
from tests.engine.sla.test_settle import END, _collect
from tests.render.conftest import build_attestation

LATER = END + timedelta(days=10)


def _config(tmp_path: Path, mutate: Callable[[dict[str, Any]], None] | None = None) -> LoadedConfig:
    doc = config_doc()
    doc["sources"] = [{"id": "probes", "type": "sla_file", "path": "probes.csv", "interval_s": 300}]
    for t in doc["tenants"]:
        t["sla_target"] = 99.9
        t["sla_instances"] = {"acme": ["pbx-acme-1"]}.get(t["id"], [])
    if mutate:
        mutate(doc)
    return load(doc, tmp_path)


def _issue(config: LoadedConfig, log: EvidenceLog, signer: ProviderSigner, **kw: Any) -> dict[str, IssuedDocument]:
    ev = evaluate(config, log, signer, period(), END, now=LATER)  # a closed month: as of its end
    return {d.tenant_id: d for d in issue(config, log, signer, ev, **kw)}


@pytest.fixture
def first(tmp_path: Path, log: EvidenceLog, signer: ProviderSigner) -> tuple[LoadedConfig, dict[str, IssuedDocument]]:
    config = _config(tmp_path)
    _collect(log, signer, until=END + timedelta(hours=6), finished=END + timedelta(hours=10))
    docs = _issue(config, log, signer)
    assert not any(d.unchanged for d in docs.values())
    return config, docs


def _documents(log: EvidenceLog) -> list[dict[str, Any]]:
    return [r.payload for r in log.records(kind=DOCUMENT_KIND)]


def test_nothing_changed_nothing_is_issued(first: tuple[LoadedConfig, dict[str, IssuedDocument]], log: EvidenceLog,
                                           signer: ProviderSigner) -> None:
    config, docs = first
    mtimes = {t: d.pdf.stat().st_mtime_ns for t, d in docs.items()}
    again = _issue(config, log, signer)
    assert all(d.unchanged for d in again.values())
    assert {t: d.document_id for t, d in again.items()} == {t: d.document_id for t, d in docs.items()}
    assert {t: d.pdf.stat().st_mtime_ns for t, d in again.items()} == mtimes  # not even rewritten
    assert len(_documents(log)) == 2  # no new document record
    assert all(p["content_digest"] and p["render_version"] for p in _documents(log))


def test_new_evidence_issues_a_new_document_that_supersedes(first: tuple[LoadedConfig, dict[str, IssuedDocument]],
                                                            log: EvidenceLog, signer: ProviderSigner) -> None:
    config, docs = first
    # A re-import within the settle window says the month's last hour was down: acme's figures change.
    _collect(log, signer, until=END + timedelta(hours=6), finished=END + timedelta(hours=20),
             down_from=END - timedelta(hours=1))
    again = _issue(config, log, signer)
    assert not again["acme"].unchanged and again["acme"].supersedes == docs["acme"].document_id
    assert again["bellini"].unchanged  # nothing of bellini's changed


def test_a_language_change_issues_again(first: tuple[LoadedConfig, dict[str, IssuedDocument]], log: EvidenceLog,
                                        signer: ProviderSigner, tmp_path: Path) -> None:
    def italian(doc: dict[str, Any]) -> None:
        next(t for t in doc["tenants"] if t["id"] == "bellini")["language"] = "it"

    again = _issue(_config(tmp_path, italian), log, signer)
    assert not again["bellini"].unchanged and "Periodo" in again["bellini"].html.read_text()
    # acme's configuration is the same, but the whole configuration's digest is in every document.
    assert not again["acme"].unchanged


def test_a_template_or_catalog_change_issues_again(first: tuple[LoadedConfig, dict[str, IssuedDocument]],
                                                  log: EvidenceLog, signer: ProviderSigner,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config, _ = first
    monkeypatch.setattr(incremental, "render_version", lambda tool: "another-template-version")
    again = _issue(config, log, signer)
    assert not any(d.unchanged for d in again.values())


def test_force_and_missing_files_issue_again(first: tuple[LoadedConfig, dict[str, IssuedDocument]],
                                             log: EvidenceLog, signer: ProviderSigner) -> None:
    config, _ = first
    assert not any(d.unchanged for d in _issue(config, log, signer, force=True).values())
    current = _issue(config, log, signer)
    assert all(d.unchanged for d in current.values())
    current["acme"].html.write_text("edited", encoding="utf-8")  # a file that no longer matches its record
    again = _issue(config, log, signer)
    assert not again["acme"].unchanged and again["bellini"].unchanged


def test_worker_processes_render_the_same_bytes() -> None:
    atts = [build_attestation("en").model_copy(update={"document_id": f"AT-{i:020d}"}) for i in range(3)]
    serial = [(r.html, r.pdf) for r in render_all(atts, jobs=1)]
    parallel = [(r.html, r.pdf) for r in render_all(atts, jobs=2)]
    assert serial == parallel and len({pdf for _, pdf in serial}) == 3
