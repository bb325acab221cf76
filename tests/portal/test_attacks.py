"""Attacks a signed-in tenant user (acme) would try on another tenant's (bellini's) documents:
by id, by guessed path, by path traversal, through packs; and without signing in. Each gets
400 or 404 (never the file) and leaves an audit entry."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from attest.portal.sessions import COOKIE
from tests.portal.conftest import PERIOD, Browser, Served, add_account, audit_rows, portal_settings

# Something only the workspace's config and key files hold: must never appear in an answer.
SECRET_MARKERS = (b"provider:", b"BEGIN", b"database_url", b"signing")


@pytest.fixture(autouse=True)
def generous_client_limit(served: Served) -> Iterator[None]:
    with portal_settings(served, client_logins_per_minute=10_000):
        yield


@pytest.fixture(scope="module")
def attacker(served: Served) -> Iterator[Browser]:
    add_account(served, "mallory-acme")
    b = Browser(served.url)
    assert b.login("mallory-acme").status_code == 303
    yield b
    b.close()


def raw_get(served: Served, browser: Browser, path: str) -> tuple[int, bytes]:
    """GET *path* exactly as written: httpx would resolve ../ segments before sending."""
    where = urlsplit(served.url)
    conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=60)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.putheader("Cookie", f"{COOKIE}={browser.cookies[COOKIE]}")
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _denials(served: Served) -> int:
    return sum(len(audit_rows(served, account="mallory-acme", outcome=o)) for o in ("denied", "not_found",
                                                                                     "bad_request"))


def test_another_tenants_document_by_id_is_404_like_an_unknown_one(served: Served, attacker: Browser) -> None:
    theirs = served.documents["bellini"]
    unknown = "AT-0000000000000000000Z"
    before = _denials(served)
    for kind in ("pdf", "html", "json", "html.dsse.json", "json.dsse.json"):
        other = attacker.get(f"/documents/{theirs}/{kind}")
        nobody = attacker.get(f"/documents/{unknown}/{kind}")
        assert other.status_code == nobody.status_code == 404
        assert other.content == nobody.content  # nothing tells an issued id from an unknown one
    assert _denials(served) == before + 10
    denied = [json.loads(r.detail) for r in audit_rows(served, account="mallory-acme", outcome="denied")]  # type: ignore[attr-defined]
    assert {"document_id": theirs, "kind": "pdf"} in denied
    assert not [d for d in denied if "bellini" in json.dumps(d)]  # the owner is not named in acme's trail


def test_another_tenants_pack_is_404(served: Served, attacker: Browser) -> None:
    theirs = served.documents["bellini"]
    before = _denials(served)
    for kind in ("tender", "audit"):
        response = attacker.get(f"/documents/{theirs}/pack/{kind}")
        assert response.status_code == 404 and b"PK" not in response.content[:2]
    assert attacker.get(f"/documents/{served.documents['acme']}/pack/everything").status_code == 400
    assert _denials(served) == before + 3


@pytest.mark.parametrize("path", [
    "/documents/..%2F..%2Fattest.yaml/pdf",
    "/documents/..%2f..%2fattest.yaml/pdf",
    "/documents/AT-XXX/../../secrets",
    "/documents/{acme}/..%2F..%2F..%2Fattest.yaml",
    "/documents/{acme}/..%2F{bellini}.pdf",
    "/documents/{acme}/pdf%00.json",
    "/documents/../documents/{bellini}/pdf",
    "/documents/%2e%2e/%2e%2e/attest.yaml",
    "/documents/{acme}/../../bellini/" + PERIOD + "/{bellini}.pdf",
    "/documents/bellini/" + PERIOD + "/{bellini}.pdf",
    "/documents/{bellini_lower}/pdf",
])
def test_guessed_paths_and_traversal_get_400_or_404_and_an_audit_entry(served: Served, attacker: Browser,
                                                                        path: str) -> None:
    path = path.format(acme=served.documents["acme"], bellini=served.documents["bellini"],
                       bellini_lower=served.documents["bellini"].lower())
    before = _denials(served)
    status, body = raw_get(served, attacker, path)
    assert status in (400, 404), (path, status)
    for marker in SECRET_MARKERS:
        assert marker not in body, (path, marker)
    assert not body.startswith(b"%PDF")
    if path.startswith("/documents/"):  # "/documents/../x" is resolved by nobody: it is just not found
        assert _denials(served) == before + 1, path


def test_nothing_without_signing_in(served: Served) -> None:
    anonymous = Browser(served.url)
    for path in (f"/documents/{served.documents['acme']}/pdf", "/documents", "/admin", "/admin/users",
                 f"/documents/{served.documents['acme']}/pack/tender"):
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    anonymous.close()


def test_a_forged_session_cookie_opens_nothing(served: Served) -> None:
    forged = Browser(served.url)
    forged.cookies[COOKIE] = "A" * 43
    assert forged.get(f"/documents/{served.documents['acme']}/pdf").status_code == 303
    forged.close()


def test_tenant_users_cannot_revoke_or_reach_the_provider_pages(served: Served, attacker: Browser) -> None:
    csrf = attacker.csrf("/documents")
    theirs = served.documents["bellini"]
    response = attacker.post(f"/admin/documents/{theirs}/revoke",
                             data={"reason": "an attacker wants this gone", "csrf_token": csrf})
    assert response.status_code == 403
    assert audit_rows(served, action="access", outcome="denied", account="mallory-acme")
    add_account(served, "victim-admin", role="admin", tenant=None)
    admin = Browser(served.url)
    admin.login("victim-admin")
    # A cross-site form post riding the admin's session: refused (no token, foreign origin).
    forged = admin.post(f"/admin/documents/{theirs}/revoke", data={"reason": "an attacker wants this gone"},
                        headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403
    assert "revoked" not in admin.get("/admin").text.split(theirs, 1)[1][:200]
    assert audit_rows(served, action="csrf", outcome="denied", account="victim-admin")
    admin.close()
