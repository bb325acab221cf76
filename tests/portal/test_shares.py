"""Share links over real HTTP: a link hands out its own document only (the PDF stamped with the
recipient and still verifying, or a pack that verifies), asks for the NDA first when it has one,
and once expired, revoked or unknown hands out nothing; every use and refusal is audited under
the link's public id, and no token ever reaches the audit trail or the access log."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from attest.errors import BadInput
from attest.portal.models import AuditEntry, ShareLink
from attest.portal.shares import (
    NDA_COOKIE,
    CreatedLink,
    ShareTokenFilter,
    create_link,
    list_links,
    mask_share_tokens,
    revoke_link,
)
from tests.cli.test_demo_end_to_end import attest

TOKENS: list[str] = []  # every token handed out in this module, looked for in the audit trail


def _link(served, tenant: str = "acme", scope: str = "pdf", nda: str | None = None,  # type: ignore[no-untyped-def]
          days: int = 7, recipient: str = "Comune di Esempio — gara 12/2026") -> CreatedLink:
    made = create_link(served.portal, document_id=served.documents[tenant], scope=scope, recipient=recipient,
                       days=days, created_by="sara", nda_text=nda)
    TOKENS.append(made.token)
    return made


def _audit(served, public_id: str | None = None) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with served.portal.db() as s:
        q = select(AuditEntry).where(AuditEntry.action == "share_use").order_by(AuditEntry.id)
        if public_id is not None:
            q = q.where(AuditEntry.link == public_id)
        rows = list(s.execute(q).scalars())
        s.expunge_all()
        return rows


def _verify(served, tmp_path: Path, name: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    ws = served.workspace
    target = tmp_path / name
    target.write_bytes(data)
    proc = attest("verify", target, "--trust", ws / "keys" / "demo-ca.pem", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture()
def moved_clock(served) -> Iterator[list[timedelta]]:  # type: ignore[no-untyped-def]
    """Move the portal's clock by appending to the list; restored afterwards."""
    shift: list[timedelta] = []
    original = served.portal.clock
    served.portal.clock = lambda: datetime.now(UTC) + sum(shift, timedelta())
    try:
        yield shift
    finally:
        served.portal.clock = original


def test_pdf_through_a_link_is_stamped_and_still_verifies(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from attest.portal.stamp import describe_stamps, original_revision

    made = _link(served)
    summary = httpx.get(served.url + made.path)
    assert summary.status_code == 200
    assert made.link.document_id in summary.text and "2026-10" in summary.text and "/download" in summary.text
    got = httpx.get(served.url + made.path + "/download")
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert f'filename="{made.link.document_id}.pdf"' in got.headers["content-disposition"]
    issued = (served.workspace / "documents" / "acme" / "2026-10" / f"{made.link.document_id}.pdf").read_bytes()
    assert original_revision(got.content) == issued and got.content != issued
    assert any("Comune di Esempio" in text for text in describe_stamps(got.content))
    _verify(served, tmp_path, "shared.pdf", got.content)
    steps = [(r.outcome, r.tenant_id) for r in _audit(served, made.link.public_id)]
    assert steps == [("ok", "acme"), ("ok", "acme")]
    assert [link.uses for link in list_links(served.portal, "acme") if link.public_id == made.link.public_id] == [1]


def test_tender_pack_through_a_link_verifies(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    made = _link(served, scope="tender-pack")
    got = httpx.get(served.url + made.path + "/download", timeout=60)
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(got.content)).namelist()
    assert f"document/{made.link.document_id}.pdf" in names
    _verify(served, tmp_path, "pack.zip", got.content)


def test_nda_must_be_accepted_before_the_download(served) -> None:  # type: ignore[no-untyped-def]
    made = _link(served, nda="Confidential: for the tender only.\nDo not forward.")
    page = httpx.get(served.url + made.path)
    assert page.status_code == 200 and "Do not forward." in page.text and "/accept" in page.text
    assert "/download" not in page.text
    refused = httpx.get(served.url + made.path + "/download")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")

    unticked = httpx.post(served.url + made.path + "/accept", data={})
    assert unticked.status_code == 303 and "set-cookie" not in unticked.headers
    accepted = httpx.post(served.url + made.path + "/accept", data={"accept": "yes"})
    assert accepted.status_code == 303
    cookie = accepted.headers["set-cookie"]
    assert cookie.startswith(NDA_COOKIE + "=") and f"Path={made.path}" in cookie and "HttpOnly" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]

    forged = value[:-4] + ("0000" if not value.endswith("0000") else "1111")
    assert httpx.get(served.url + made.path + "/download", cookies={NDA_COOKIE: forged}).status_code == 403
    other = _link(served, nda="Other terms.")  # an acceptance is for one link only
    assert httpx.get(served.url + other.path + "/download", cookies={NDA_COOKIE: value}).status_code == 403

    got = httpx.get(served.url + made.path + "/download", cookies={NDA_COOKIE: value})
    assert got.status_code == 200 and got.content.startswith(b"%PDF")
    outcomes = [(r.outcome, r.detail) for r in _audit(served, made.link.public_id)]
    assert [o for o, _ in outcomes] == ["ok", "nda_required", "bad_request", "ok", "nda_required", "ok"]
    assert '"nda_sha256"' in outcomes[3][1] and '"step":"nda_accept"' in outcomes[3][1]


def test_expired_link_is_refused_and_audited(served, moved_clock: list[timedelta]) -> None:  # type: ignore[no-untyped-def]
    made = _link(served, days=3)
    assert httpx.get(served.url + made.path).status_code == 200
    moved_clock.append(timedelta(days=3, seconds=1))
    for suffix in ("", "/download"):
        refused = httpx.get(served.url + made.path + suffix)
        assert refused.status_code == 410 and "expired" in refused.text
    assert httpx.post(served.url + made.path + "/accept", data={"accept": "yes"}).status_code == 410
    assert [r.outcome for r in _audit(served, made.link.public_id)][-3:] == ["expired"] * 3


def test_revoked_link_is_refused_and_audited(served) -> None:  # type: ignore[no-untyped-def]
    made = _link(served)
    assert httpx.get(served.url + made.path + "/download").status_code == 200
    revoke_link(served.portal, made.link.public_id, "sara")
    refused = httpx.get(served.url + made.path + "/download")
    assert refused.status_code == 410 and "withdrawn by the sender" in refused.text
    assert _audit(served, made.link.public_id)[-1].outcome == "revoked"
    with pytest.raises(BadInput, match="already revoked"):
        revoke_link(served.portal, made.link.public_id, "sara")


def test_unknown_tokens_get_404_and_are_audited_without_the_token(served) -> None:  # type: ignore[no-untyped-def]
    import secrets

    before = len(_audit(served))
    for token in (secrets.token_urlsafe(32), "short", "x" * 500):
        for suffix in ("", "/download"):
            assert httpx.get(f"{served.url}/s/{token}{suffix}").status_code == 404
    rows = _audit(served)[before:]
    assert [(r.outcome, r.link, r.tenant_id) for r in rows] == [("not_found", None, None)] * 6


def test_a_link_reaches_its_own_document_only(served) -> None:  # type: ignore[no-untyped-def]
    b = _link(served, tenant="bellini")
    acme_doc = served.documents["acme"]
    got = httpx.get(served.url + b.path + "/download", params={"document_id": acme_doc, "tenant": "acme"})
    assert got.status_code == 200
    assert f'filename="{served.documents["bellini"]}.pdf"' in got.headers["content-disposition"]
    assert acme_doc.encode() not in got.content
    for path in (f"/s/{b.token}/{acme_doc}", f"/s/{b.token}/download/{acme_doc}", f"/s/{acme_doc}/download"):
        assert httpx.get(served.url + path).status_code == 404, path


def test_links_are_refused_for_documents_that_are_not_current_or_bad_input(served) -> None:  # type: ignore[no-untyped-def]
    doc = served.documents["acme"]
    cases = [dict(document_id="AT-00000000000000000000", scope="pdf", recipient="X", days=1),
             dict(document_id=doc, scope="everything", recipient="X", days=1),
             dict(document_id=doc, scope="pdf", recipient="X", days=served.portal.settings.share_link_max_days + 1),
             dict(document_id=doc, scope="pdf", recipient="bad\u202ename", days=1),
             dict(document_id=doc, scope="pdf", recipient="y" * 121, days=1)]
    for case in cases:
        with pytest.raises(BadInput):
            create_link(served.portal, created_by="sara", **case)  # type: ignore[arg-type]


def test_no_token_is_stored_or_audited(served) -> None:  # type: ignore[no-untyped-def]
    assert TOKENS
    with served.portal.db() as s:
        rows = [" ".join(str(v) for v in (r.action, r.outcome, r.account, r.link, r.tenant_id, r.client, r.detail))
                for r in s.execute(select(AuditEntry)).scalars()]
        links = [(r.public_id, r.token_hash) for r in s.execute(select(ShareLink)).scalars()]
    assert rows and links
    text = "\n".join(rows)
    for token in TOKENS:
        assert token not in text and token[:16] not in text
    assert all(len(h) == 32 for _, h in links)


def test_share_tokens_are_masked_in_access_logs() -> None:
    token = "Ab3_-" * 8 + "xyz"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", f"/s/{token}/download", "1.1", 200), None)
    assert ShareTokenFilter().filter(record)
    assert token not in record.getMessage() and "/s/<share-token>/download" in record.getMessage()
    assert mask_share_tokens("/static/portal.css") == "/static/portal.css"
    assert any(isinstance(f, ShareTokenFilter) for f in logging.getLogger("uvicorn.access").filters)


def _signed_in(served, username: str, role: str, tenant: str | None = None) -> tuple[dict[str, str], str]:  # type: ignore[no-untyped-def]
    """A session for a (new) account, made directly: (cookie header, CSRF token)."""
    from attest.canonical import utc_iso
    from attest.portal.audit import writing
    from attest.portal.models import Account, PortalSession
    from attest.portal.sessions import COOKIE, start_session, token_hash

    portal = served.portal
    with writing(portal) as s:
        account = s.execute(select(Account).where(Account.username == username)).scalar_one_or_none()
        if account is None:
            account = Account(username=username, role=role, tenant_id=tenant, password_hash=None, disabled=False,
                              failed_logins=0, created_at=utc_iso(portal.now()))
            s.add(account)
            s.flush()
        token = start_session(portal, s, account, "127.0.0.1")
        s.flush()
        csrf = s.get(PortalSession, token_hash(token)).csrf_token  # type: ignore[union-attr]
    return {"Cookie": f"{COOKIE}={token}"}, csrf


def test_sales_create_and_revoke_links_on_the_web(served) -> None:  # type: ignore[no-untyped-def]
    import re

    headers, csrf = _signed_in(served, "sara-sales", "sales")
    assert httpx.get(served.url + "/admin/shares", headers=headers).status_code == 200
    form = {"document_id": served.documents["bellini"], "scope": "pdf", "recipient": "ASL Roma 9", "days": "5",
            "nda_text": "", "csrf_token": csrf}
    forged = httpx.post(served.url + "/admin/shares", headers=headers, data={**form, "csrf_token": "nope"})
    assert forged.status_code == 403
    made = httpx.post(served.url + "/admin/shares", headers=headers, data=form)
    assert made.status_code == 200, made.text
    (token,) = re.findall(r"/s/([A-Za-z0-9_-]{43})", made.text)
    TOKENS.append(token)
    assert httpx.get(f"{served.url}/s/{token}/download").status_code == 200
    (public_id,) = [link.public_id for link in list_links(served.portal, "bellini") if link.recipient == "ASL Roma 9"]
    assert token not in httpx.get(served.url + "/admin/shares", headers=headers).text  # shown once only

    bad = httpx.post(served.url + "/admin/shares", headers=headers, data={**form, "days": "9999"})
    assert bad.status_code == 400 and "share_link_max_days" in bad.text
    revoked = httpx.post(f"{served.url}/admin/shares/{public_id}/revoke", headers=headers,
                         data={"csrf_token": csrf}, follow_redirects=False)
    assert revoked.status_code == 303
    assert httpx.get(f"{served.url}/s/{token}/download").status_code == 410

    tenant_headers, tenant_csrf = _signed_in(served, "tina-acme", "tenant", "acme")
    assert httpx.get(served.url + "/admin/shares", headers=tenant_headers).status_code == 403
    assert httpx.post(served.url + "/admin/shares", headers=tenant_headers,
                      data={**form, "csrf_token": tenant_csrf}).status_code == 403


def test_admin_audit_page_is_for_admins_and_filters(served) -> None:  # type: ignore[no-untyped-def]
    _link(served, tenant="bellini")
    httpx.get(f"{served.url}/s/{'Q' * 43}")  # an unknown token: one not_found entry
    admin, _ = _signed_in(served, "ada-admin", "admin")
    every = httpx.get(served.url + "/admin/audit", headers=admin)
    assert every.status_code == 200 and "share_create" in every.text and "not_found" in every.text
    bellini = httpx.get(served.url + "/admin/audit", headers=admin, params={"tenant": "bellini",
                                                                            "action": "share_create"})
    assert bellini.status_code == 200 and "share_create" in bellini.text
    assert ">acme<" not in bellini.text.split("<tbody>")[1] and "not_found" not in bellini.text
    sales, _ = _signed_in(served, "sara-sales", "sales")
    assert httpx.get(served.url + "/admin/audit", headers=sales).status_code == 403
    assert httpx.get(served.url + "/admin/audit", follow_redirects=False).status_code == 303


def test_reset_link_tokens_are_masked_in_the_access_log_too() -> None:
    token = "Rz9_-" * 8 + "abc"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", f"/reset/{token}", "1.1", 200), None)
    assert ShareTokenFilter().filter(record)
    assert token not in record.getMessage() and "/reset/<reset-token>" in record.getMessage()


# A second process over the same workspace (as after a restart, or another worker): is the cookie
# accepted there? Prints the key's fingerprint too, to compare with this process's.
_OTHER_WORKER = """
import hashlib, sys
from pathlib import Path
from attest.cli import _signer
from attest.config import load_config
from attest.portal.context import Portal
from attest.portal.keys import shared_key
from attest.portal.shares import NDA_KEY_NAME, nda_accepted, resolve
from evidence.log import EvidenceLog

loaded = load_config(Path(sys.argv[1]))
portal = Portal(loaded, EvidenceLog.open(loaded.database_url, loaded.evidence_dir), _signer(loaded))
link, state = resolve(portal, sys.argv[2])
print(state, nda_accepted(portal, link, sys.argv[3]), hashlib.sha256(shared_key(portal, NDA_KEY_NAME)).hexdigest())
"""


def test_an_accepted_nda_holds_across_workers_and_restarts(served, caplog) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import hashlib
    import subprocess
    import sys

    from fastapi import FastAPI

    from attest.cli import _signer
    from attest.portal.app import create_app
    from attest.portal.context import Portal
    from attest.portal.keys import PortalSecret
    from attest.portal.shares import NDA_KEY_NAME
    from evidence.log import EvidenceLog

    made = _link(served, nda="Terms that outlive a restart.")
    accepted = httpx.post(served.url + made.path + "/accept", data={"accept": "yes"})
    value = accepted.headers["set-cookie"].split(";")[0].split("=", 1)[1]

    # Another process: its own memory, the same database.
    proc = subprocess.run([sys.executable, "-c", _OTHER_WORKER, str(served.workspace / "attest.yaml"), made.token,
                           value], capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr
    state, ok, fingerprint = proc.stdout.split()
    assert (state, ok) == ("ok", "True")
    assert made.token not in proc.stdout and value not in proc.stdout

    # A new application over a new Portal in this process downloads with the cookie. It is called
    # in process through httpx's ASGI transport (no server, no lifespan: what matters is that its
    # memory is new and it still accepts the cookie).
    loaded = served.portal.loaded
    log = EvidenceLog.open(loaded.database_url, loaded.evidence_dir)

    async def download_with_cookie(app: FastAPI) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portal.test") as client:
            return await client.get(made.path + "/download", headers={"Cookie": f"{NDA_COOKIE}={value}"})

    try:
        got = asyncio.run(download_with_cookie(create_app(Portal(loaded, log, _signer(loaded)))))
        assert got.status_code == 200 and got.content.startswith(b"%PDF")
        with served.portal.db() as s:
            (row,) = s.scalars(select(PortalSecret).where(PortalSecret.name == NDA_KEY_NAME)).all()
            key, shown = bytes(row.value), repr(row)
    finally:
        log.close()
    assert len(key) == 32 and hashlib.sha256(key).hexdigest() == fingerprint
    assert key.hex() not in shown and str(key) not in shown
    # The key is in no page, audit entry or log line.
    page = httpx.get(served.url + made.path, cookies={NDA_COOKIE: value}).text
    audit_text = " ".join(r.detail for r in _audit(served))
    for text in (page, audit_text, caplog.text, value):
        assert key.hex() not in text and key.hex().upper() not in text
