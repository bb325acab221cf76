"""The token-authenticated JSON API over real HTTP: a tenant's token lists and reads its own
documents and files; another tenant's document, a traversal attempt and an unknown id are the
same 404; a missing, garbage or revoked token is 401 with WWW-Authenticate; a file changed on
disk is 409; every call leaves an audit row; the OpenAPI document describes it all. Also the
`attest tokens` commands."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from attest.canonical import utc_iso
from attest.portal.audit import writing
from attest.portal.models import ApiToken, AuditEntry
from attest.portal.tokens import create_token, revoke_token
from tests.cli.test_demo_end_to_end import attest
from tests.portal.conftest import PERIOD, Served


def _token(served: Served, tenant: str) -> str:
    portal: Any = served.portal
    with portal.db() as s:
        token, _ = create_token(s, tenant, f"{tenant} customer area", "test", utc_iso(portal.now()))
    return token


@pytest.fixture(scope="module")
def acme(served: Served) -> str:
    return _token(served, "acme")


def _get(served: Served, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(served.url + path, headers=headers, timeout=30)


def _last_api_audit(served: Served) -> tuple[AuditEntry, dict[str, Any]]:
    portal: Any = served.portal
    with portal.db() as s:
        row = s.scalars(select(AuditEntry).where(AuditEntry.action == "api").order_by(AuditEntry.id.desc())).first()
        s.expunge_all()
    assert row is not None
    return row, json.loads(row.detail)


def _public_id(token: str) -> str:
    return token.split("_")[1]


def test_token_is_stored_as_a_hash_only(served: Served, acme: str) -> None:
    portal: Any = served.portal
    with portal.db() as s:
        row = s.scalars(select(ApiToken).where(ApiToken.public_id == _public_id(acme))).one()
        assert row.token_hash == hashlib.sha256(acme.encode()).digest() and row.tenant_id == "acme"
        secret = acme.split("_", 2)[2]
        assert all(secret not in str(getattr(row, c.key)) for c in ApiToken.__table__.columns)


def test_list_own_documents(served: Served, acme: str) -> None:
    r = _get(served, "/api/v1/documents", acme)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant"] == "acme"
    ids = [d["document_id"] for d in body["documents"]]
    assert ids == [served.documents["acme"]]  # bellini's is not there
    doc = body["documents"][0]
    assert doc["period"] == PERIOD and doc["status"] == "current" and doc["links"]["verify"] == f"/d/{ids[0]}"
    row, detail = _last_api_audit(served)
    assert (row.outcome, row.link, row.tenant_id, detail["documents"]) == ("ok", _public_id(acme), "acme", 1)
    assert acme.split("_", 2)[2] not in row.detail  # the secret is never audited


def test_detail_has_the_verdict_per_control(served: Served, acme: str) -> None:
    doc_id = served.documents["acme"]
    r = _get(served, f"/api/v1/documents/{doc_id}", acme)
    assert r.status_code == 200, r.text
    body = r.json()
    stored = json.loads((served.workspace / "documents" / "acme" / PERIOD / f"{doc_id}.json").read_bytes())
    assert [c["control_id"] for c in body["results"]] == [c["control_id"] for c in stored["results"]]
    assert [c["verdict"] for c in body["results"]] == [c["verdict"] for c in stored["results"]]
    assert set(body["files_sha256"]) == {"pdf", "html", "json"} and body["revoked"] is None


@pytest.mark.parametrize("kind", ["pdf", "html", "json", "html.dsse.json", "json.dsse.json"])
def test_files_are_served_exactly_as_issued(served: Served, acme: str, kind: str) -> None:
    doc_id = served.documents["acme"]
    r = _get(served, f"/api/v1/documents/{doc_id}/files/{kind}", acme)
    assert r.status_code == 200, r.text
    assert r.content == (served.workspace / "documents" / "acme" / PERIOD / f"{doc_id}.{kind}").read_bytes()
    row, detail = _last_api_audit(served)
    assert row.outcome == "ok" and detail["file"] == kind


def test_last_used_is_recorded(served: Served, acme: str) -> None:
    _get(served, "/api/v1/documents", acme)
    portal: Any = served.portal
    with portal.db() as s:
        assert s.scalars(select(ApiToken.last_used_at).where(ApiToken.public_id == _public_id(acme))).one()


def test_another_tenants_document_is_indistinguishable_from_unknown(served: Served, acme: str) -> None:
    theirs = served.documents["bellini"]
    unknown = "AT-0000000000000000000Z"
    answers = []
    for doc_id in (theirs, unknown):
        for suffix in ("", "/files/pdf", "/files/json"):
            r = _get(served, f"/api/v1/documents/{doc_id}{suffix}", acme)
            assert r.status_code == 404, r.text
            answers.append(r.json())
            row, _ = _last_api_audit(served)
            assert (row.outcome, row.link, row.tenant_id) == ("not_found", _public_id(acme), "acme")
    assert all(a == answers[0] for a in answers)


@pytest.mark.parametrize("path", [
    "/api/v1/documents/..%2F..%2Fattest.yaml",
    "/api/v1/documents/%2E%2E/files/pdf",
    "/api/v1/documents/{doc}/files/..%2F..%2F..%2Fattest.yaml",
    "/api/v1/documents/{doc}/files/yaml",
    "/api/v1/documents/{doc}..%2F/files/pdf",
])
def test_path_traversal_is_refused(served: Served, acme: str, path: str) -> None:
    r = _get(served, path.format(doc=served.documents["acme"]), acme)
    assert r.status_code in (400, 404), r.text
    assert b"provider:" not in r.content  # attest.yaml never leaks


@pytest.mark.parametrize("token", [None, "atk_", "garbage", "atk_0123456789abcdef_" + "A" * 43])
def test_missing_or_invalid_token_is_401(served: Served, token: str | None) -> None:
    r = _get(served, "/api/v1/documents", token)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    row, _ = _last_api_audit(served)
    assert row.outcome == "denied" and row.tenant_id is None
    if token and len(token) > 20:  # well formed: audited under the public id it claims
        assert row.link == "0123456789abcdef" and "A" * 43 not in row.detail


def test_other_auth_schemes_are_401(served: Served, acme: str) -> None:
    r = httpx.get(served.url + "/api/v1/documents", headers={"Authorization": f"Basic {acme}"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


def test_revoked_token_is_401(served: Served) -> None:
    token = _token(served, "acme")
    assert _get(served, "/api/v1/documents", token).status_code == 200
    portal: Any = served.portal
    with writing(portal) as s:
        assert revoke_token(s, _public_id(token), utc_iso(portal.now())) is not None
    r = _get(served, "/api/v1/documents", token)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert _last_api_audit(served)[0].link == _public_id(token)


def test_file_changed_on_disk_is_409(served: Served) -> None:
    token = _token(served, "bellini")
    doc_id = served.documents["bellini"]
    folder = served.workspace / "documents" / "bellini" / PERIOD
    pdf = folder / f"{doc_id}.pdf"
    original = pdf.read_bytes()
    try:
        pdf.write_bytes(original + b"\n% appended\n")
        r = _get(served, f"/api/v1/documents/{doc_id}/files/pdf", token)
        assert r.status_code == 409, r.text
        row, detail = _last_api_audit(served)
        assert (row.outcome, row.tenant_id, detail["error"]) == ("conflict", "bellini", "digest_mismatch")
    finally:
        pdf.write_bytes(original)
    assert _get(served, f"/api/v1/documents/{doc_id}/files/pdf", token).status_code == 200
    envelope = folder / f"{doc_id}.html.dsse.json"
    original = envelope.read_bytes()
    try:
        forged = json.loads(original)
        forged["payload"] = forged["payload"][:-8] + "AAAAAAA="
        envelope.write_text(json.dumps(forged))
        assert _get(served, f"/api/v1/documents/{doc_id}/files/html.dsse.json", token).status_code == 409
    finally:
        envelope.write_bytes(original)


def test_openapi_documents_the_api_and_the_bearer_scheme(served: Served) -> None:
    doc = httpx.get(served.url + "/api/openapi.json").json()
    for path in ("/api/v1/documents", "/api/v1/documents/{document_id}",
                 "/api/v1/documents/{document_id}/files/{kind}"):
        assert path in doc["paths"], path
        assert doc["paths"][path]["get"]["security"] == [{"HTTPBearer": []}]
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["HTTPBearer"]
        ["description"]}
    schemas = doc["components"]["schemas"]
    assert {"DocumentList", "DocumentSummary", "DocumentDetail", "ControlVerdict"} <= set(schemas)


def test_tokens_cli_add_list_revoke(served: Served) -> None:
    ws = served.workspace
    cfg = ("--config", ws / "attest.yaml")
    proc = attest("tokens", "add", "--tenant", "acme", "--label", "CLI test", *cfg, cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    token = proc.stdout.strip()
    assert token.startswith("atk_")
    assert _get(served, "/api/v1/documents", token).status_code == 200
    listing = attest("tokens", "list", *cfg, cwd=ws)
    assert listing.returncode == 0 and _public_id(token) in listing.stdout
    assert token.split("_", 2)[2] not in listing.stdout
    assert attest("tokens", "revoke", _public_id(token), *cfg, cwd=ws).returncode == 0
    assert _get(served, "/api/v1/documents", token).status_code == 401
    assert attest("tokens", "add", "--tenant", "nobody", "--label", "x", *cfg, cwd=ws).returncode == 2
    assert attest("tokens", "revoke", "ffffffffffffffff", *cfg, cwd=ws).returncode == 2
