"""The public verification page over real HTTP: /d/<id> and its JSON for current, superseded,
revoked, provider-wide, unknown and malformed ids; uploads judged authentic, tampered or unknown;
oversized, empty, non-document and truncated uploads refused with 413/400, never a 500; and an
audit row for every answer."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from attest.portal.models import AuditEntry
from tests.cli.test_demo_end_to_end import attest
from tests.portal.conftest import PERIOD, Served, render

UNKNOWN_ID = "AT-0000000000000000000Z"  # well formed, never issued


@dataclass
class History:
    superseded: str  # acme's first document, superseded by `current`
    current: str
    revoked: str  # bellini's document
    fleet: str


@pytest.fixture(scope="module")
def history(served: Served) -> History:
    ws = served.workspace
    first = served.documents["acme"]
    current = render(ws, "acme", as_of="2026-10-21T12:00:00Z")
    assert current != first
    revoked = served.documents["bellini"]
    proc = attest("revoke", revoked, "--reason", "issued with a wrong contract", "--by", "ops@example.test",
                  "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = attest("render", "--fleet", "--period", PERIOD, "--as-of", "2026-10-21T12:00:00Z",
                  "--config", ws / "attest.yaml", cwd=ws)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (fleet,) = [w for w in proc.stdout.split() if w.startswith("AT-")]
    return History(first, current, revoked, fleet)


def _file(served: Served, tenant: str, doc: str, ext: str) -> Path:
    return served.workspace / "documents" / tenant / PERIOD / f"{doc}.{ext}"


def _audit(served: Served) -> list[AuditEntry]:
    with served.portal.db() as s:  # type: ignore[attr-defined]
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "verify").order_by(AuditEntry.id)))
        s.expunge_all()
    return rows


def _last_audit(served: Served) -> tuple[AuditEntry, dict[str, Any]]:
    row = _audit(served)[-1]
    return row, json.loads(row.detail)


def _upload(served: Served, files: dict[str, tuple[str, bytes]], path: str = "/api/v1/verify") -> httpx.Response:
    return httpx.post(served.url + path, files=files, timeout=60)


# --- /d/<id> -----------------------------------------------------------------------------------


def test_current_document_page_and_json(served: Served, history: History) -> None:
    page = httpx.get(f"{served.url}/d/{history.current}")
    assert page.status_code == 200
    assert "current" in page.text and history.current in page.text
    doc = httpx.get(f"{served.url}/api/v1/verify/{history.current}").json()
    assert doc["known"] is True and doc["status"] == "current" and doc["period"] == PERIOD
    assert doc["scope"] == "tenant" and doc["superseded_by"] is None and doc["revoked"] is None
    assert set(doc["files_sha256"]) == {"pdf", "html", "json"}
    import hashlib

    assert doc["files_sha256"]["pdf"] == hashlib.sha256(_file(served, "acme", history.current, "pdf")
                                                          .read_bytes()).hexdigest()
    assert httpx.get(f"{served.url}/d/{history.current}.json").json() == doc
    row, detail = _last_audit(served)
    assert (row.outcome, row.tenant_id, detail["document_id"], detail["status"]) == ("ok", "acme", history.current,
                                                                                    "current")


def test_public_page_lists_no_other_document_of_the_tenant(served: Served, history: History) -> None:
    page = httpx.get(f"{served.url}/d/{history.current}").text
    assert history.superseded not in page  # its predecessor is not named on a current document's page
    assert history.revoked not in page


def test_superseded_document_names_its_successor(served: Served, history: History) -> None:
    doc = httpx.get(f"{served.url}/api/v1/verify/{history.superseded}").json()
    assert doc["status"] == "superseded" and doc["superseded_by"] == history.current
    page = httpx.get(f"{served.url}/d/{history.superseded}")
    assert page.status_code == 200 and f"superseded by {history.current}" in page.text


def test_revoked_document_says_when_by_whom_and_why(served: Served, history: History) -> None:
    doc = httpx.get(f"{served.url}/api/v1/verify/{history.revoked}").json()
    assert doc["status"] == "revoked"
    assert doc["revoked"]["by"] == "ops@example.test" and doc["revoked"]["reason"] == "issued with a wrong contract"
    page = httpx.get(f"{served.url}/d/{history.revoked}")
    assert page.status_code == 200 and "revoked on" in page.text and "issued with a wrong contract" in page.text
    assert _last_audit(served)[0].tenant_id == "bellini"


def test_fleet_document_is_known(served: Served, history: History) -> None:
    doc = httpx.get(f"{served.url}/api/v1/verify/{history.fleet}").json()
    assert doc["known"] and doc["scope"] == "fleet" and doc["status"] == "current" and doc["tenant_name"] is None


@pytest.mark.parametrize("doc_id", [UNKNOWN_ID, "AT-ILOU0000000000000000", "at-0000000000000000000z", "AT-..",
                                    "AT-" + "0" * 200, "AT-0000000000000000000Z%00"])
def test_unknown_and_malformed_ids_are_404(served: Served, history: History, doc_id: str) -> None:
    page = httpx.get(f"{served.url}/d/{doc_id}")
    assert page.status_code == 404 and "unknown to this provider" in page.text
    answer = httpx.get(f"{served.url}/api/v1/verify/{doc_id}")
    assert answer.status_code == 404 and answer.json()["known"] is False
    row, detail = _last_audit(served)
    assert row.outcome == "not_found" and row.tenant_id is None
    assert detail["document_id"] in (UNKNOWN_ID, None)  # a malformed id is not copied into the trail


# --- uploads -----------------------------------------------------------------------------------


def test_genuine_pdf_is_authentic_and_current(served: Served, history: History) -> None:
    pdf = _file(served, "acme", history.current, "pdf").read_bytes()
    verdict = _upload(served, {"file": ("whatever.bin", pdf, "application/octet-stream")}).json()
    assert verdict["result"] == "authentic" and verdict["kind"] == "pdf", verdict
    assert verdict["document"]["document_id"] == history.current and verdict["document"]["status"] == "current"
    row, detail = _last_audit(served)
    assert (row.outcome, row.tenant_id, detail["result"], detail["status"]) == ("ok", "acme", "authentic", "current")


def test_upload_page_shows_authentic_and_superseded(served: Served, history: History) -> None:
    pdf = _file(served, "acme", history.superseded, "pdf").read_bytes()
    page = _upload(served, {"file": ("a.pdf", pdf, "application/pdf")}, path="/verify")
    assert page.status_code == 200
    assert "Authentic" in page.text and f"superseded by {history.current}" in page.text


def test_revoked_pdf_is_authentic_but_revoked(served: Served, history: History) -> None:
    pdf = _file(served, "bellini", history.revoked, "pdf").read_bytes()
    verdict = _upload(served, {"file": ("b.pdf", pdf, "application/pdf")}).json()
    assert verdict["result"] == "authentic" and verdict["document"]["status"] == "revoked"


def test_pdf_with_one_byte_changed_is_tampered(served: Served, history: History) -> None:
    pdf = bytearray(_file(served, "acme", history.current, "pdf").read_bytes())
    middle = len(pdf) // 2
    pdf[middle] ^= 0x01
    response = _upload(served, {"file": ("a.pdf", bytes(pdf), "application/pdf")})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert response.json()["result"] == "tampered", response.json()
    row, detail = _last_audit(served)
    assert row.outcome in ("ok", "bad_request") and detail.get("result") in ("tampered", None)


def test_pdf_byte_change_in_signed_content_is_tampered(served: Served, history: History) -> None:
    """A change inside a stream the signature covers (not the file structure) parses fine and
    must be reported tampered, not refused."""
    pdf = bytearray(_file(served, "acme", history.current, "pdf").read_bytes())
    at = pdf.index(b"stream", len(pdf) // 4) + 20
    pdf[at] ^= 0x01
    verdict = _upload(served, {"file": ("a.pdf", bytes(pdf), "application/pdf")}).json()
    assert verdict["result"] == "tampered", verdict
    assert _last_audit(served)[1]["result"] == "tampered"


@pytest.mark.parametrize("ext", ["json", "html"])
def test_json_and_html_with_envelopes(served: Served, history: History, ext: str) -> None:
    data = _file(served, "acme", history.current, ext).read_bytes()
    envelope = _file(served, "acme", history.current, f"{ext}.dsse.json").read_bytes()
    verdict = _upload(served, {"file": ("x", data, "text/plain"), "envelope": ("y", envelope, "text/plain")}).json()
    assert verdict["result"] == "authentic" and verdict["signature"] == "valid and trusted", verdict
    assert verdict["document"]["status"] == "current"
    changed = data.replace(b"acme", b"acmf", 1) if b"acme" in data else data + b" "
    verdict = _upload(served, {"file": ("x", changed, "text/plain"), "envelope": ("y", envelope, "text/plain")}).json()
    assert verdict["result"] == "tampered", verdict


def test_json_without_envelope_is_matched_against_the_log(served: Served, history: History) -> None:
    data = _file(served, "acme", history.superseded, "json").read_bytes()
    verdict = _upload(served, {"file": ("x.json", data, "application/json")}).json()
    assert verdict["result"] == "authentic" and verdict["document"]["status"] == "superseded"
    forged = json.loads(data)
    forged["period"] = "2026-09"
    verdict = _upload(served, {"file": ("x.json", json.dumps(forged).encode(), "application/json")}).json()
    assert verdict["result"] == "tampered" and verdict["document"]["document_id"] == history.superseded


def test_document_of_another_log_is_unknown(served: Served, history: History) -> None:
    data = json.loads(_file(served, "acme", history.current, "json").read_bytes())
    data["document_id"] = UNKNOWN_ID
    verdict = _upload(served, {"file": ("x.json", json.dumps(data).encode(), "application/json")}).json()
    assert verdict["result"] == "unknown" and verdict["document"] is None


@pytest.mark.parametrize(("content", "code"), [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "unsupported"),
    (bytes(range(256)) * 8, "unsupported"),
])
def test_empty_and_non_documents_are_400(served: Served, history: History, content: bytes, code: str) -> None:
    for path in ("/api/v1/verify", "/verify"):
        response = _upload(served, {"file": ("doc.pdf", content, "application/pdf")}, path=path)
        assert response.status_code == 400, (path, response.text)
        row, detail = _last_audit(served)
        assert row.outcome == "bad_request" and detail["error"] == code


def test_truncated_pdf_is_400_not_500(served: Served, history: History) -> None:
    pdf = _file(served, "acme", history.current, "pdf").read_bytes()
    for cut in (len(pdf) // 3, 2000):
        response = _upload(served, {"file": ("a.pdf", pdf[:cut], "application/pdf")})
        assert response.status_code == 400, response.text
        assert _last_audit(served)[0].outcome == "bad_request"


def test_malformed_multipart_and_unexpected_fields_are_400(served: Served, history: History) -> None:
    r = httpx.post(served.url + "/api/v1/verify", content=b"not multipart", headers={"content-type": "text/plain"})
    assert r.status_code == 400
    r = _upload(served, {"file": ("a", b"{}", "x"), "other": ("b", b"x", "x")})
    assert r.status_code == 400 and r.json()["error"] == "bad_field"
    r = _upload(served, {"envelope": ("a", b"{}", "x")})
    assert r.status_code == 400 and r.json()["error"] == "no_file"


def test_path_traversal_in_the_id_finds_nothing(served: Served, history: History) -> None:
    for path in ("/d/..%2F..%2Fattest.yaml", "/d/%2E%2E", "/api/v1/verify/..%2Fattest.yaml"):
        assert httpx.get(served.url + path).status_code == 404


def _raw_request(served: Served, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send *head* and then *body_parts* on a raw socket, stop (the body may be incomplete) and
    read the answer: shows the server answers before the whole body arrived."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.settimeout(60)  # a safety net against a hang, not a measured time
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_oversized_upload_is_refused_by_content_length(served: Served, history: History) -> None:
    limit = served.portal.settings.max_upload_mb * 1024 * 1024  # type: ignore[attr-defined]
    head = (f"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {limit * 2}\r\n\r\n").encode()
    answer = _raw_request(served, head, [b"--b\r\n"])  # a few bytes of a body announced as twice the limit
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    row, detail = _last_audit(served)
    assert row.outcome == "too_large" and detail["error"] == "too_large"


def test_oversized_chunked_upload_is_refused_while_streaming(served: Served, history: History) -> None:
    limit = served.portal.settings.max_upload_mb * 1024 * 1024  # type: ignore[attr-defined]
    head = (b"POST /verify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    first = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.7\n'
    block = b"0" * (1024 * 1024)
    chunks = [b"%x\r\n%s\r\n" % (len(first), first)]
    chunks += [b"%x\r\n%s\r\n" % (len(block), block)] * (limit // len(block) + 2)  # past the limit, never ended
    answer = _raw_request(served, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert _last_audit(served)[0].outcome == "too_large"


def test_verification_is_in_the_openapi_document(served: Served) -> None:
    doc = httpx.get(served.url + "/api/openapi.json").json()
    assert "/api/v1/verify/{document_id}" in doc["paths"] and "post" in doc["paths"]["/api/v1/verify"]
    assert "PublicDocument" in doc["components"]["schemas"]


def test_pages_carry_no_inline_script_or_style(served: Served, history: History) -> None:
    for path in (f"/d/{history.current}", f"/d/{UNKNOWN_ID}", "/verify"):
        text = httpx.get(served.url + path).text
        assert "<script" not in text and "<style" not in text and " style=" not in text
