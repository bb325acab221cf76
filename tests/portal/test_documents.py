"""A tenant user's documents page and downloads, over real HTTP; then the same after a newer
document supersedes one and an admin revokes it from the provider's page."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest

from attest.canonical import sha256_hex
from tests.portal.conftest import PERIOD, Browser, Served, add_account, audit_rows, portal_settings, render


@pytest.fixture(autouse=True)
def generous_client_limit(served: Served) -> Iterator[None]:
    with portal_settings(served, client_logins_per_minute=10_000):
        yield


@pytest.fixture(scope="module")
def acme_user(served: Served) -> str:
    add_account(served, "docs-acme")
    return "docs-acme"


def _file(served: Served, tenant: str, name: str) -> bytes:
    return (served.workspace / "documents" / tenant / PERIOD / name).read_bytes()


def test_documents_page_lists_own_documents_with_verdict_summary(served: Served, browser: Browser,
                                                                 acme_user: str) -> None:
    browser.login(acme_user)
    page = browser.get("/documents")
    assert page.status_code == 200
    mine, theirs = served.documents["acme"], served.documents["bellini"]
    assert mine in page.text and theirs not in page.text
    # acme's language is Italian (attest init's demo tenants): the list is in Italian.
    assert f"Periodo {PERIOD}" in page.text and "in vigore" in page.text
    attestation = json.loads(_file(served, "acme", f"{mine}.json"))
    for result in attestation["results"]:  # every control's verdict is on the page
        assert result["control_id"] in page.text
    assert 'class="verdict-' in page.text
    for kind in ("pdf", "html", "json", "html.dsse.json", "json.dsse.json", "pack/tender", "pack/audit"):
        assert f"/documents/{mine}/{kind}" in page.text
    assert "<script" not in page.text and "style=" not in page.text


@pytest.mark.parametrize(("kind", "media"), [("pdf", "application/pdf"), ("html", "text/html"),
                                             ("json", "application/json"), ("html.dsse.json", "application/json"),
                                             ("json.dsse.json", "application/json")])
def test_downloads_are_the_issued_files_as_attachments(served: Served, browser: Browser, acme_user: str, kind: str,
                                                       media: str) -> None:
    mine = served.documents["acme"]
    browser.login(acme_user)
    response = browser.get(f"/documents/{mine}/{kind}")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith(media)
    assert response.headers["content-disposition"] == f'attachment; filename="{mine}.{kind}"'
    assert response.content == _file(served, "acme", f"{mine}.{kind}")
    downloads = [json.loads(r.detail) for r in audit_rows(served, action="download", outcome="ok",  # type: ignore[attr-defined]
                                                          account=acme_user)]
    assert {"document_id": mine, "kind": kind} in downloads


def test_tender_pack_download(served: Served, browser: Browser, acme_user: str) -> None:
    mine = served.documents["acme"]
    browser.login(acme_user)
    response = browser.get(f"/documents/{mine}/pack/tender")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == f'attachment; filename="{mine}-tender-pack.zip"'
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert f"document/{mine}.pdf" in names
    assert not [n for n in names if "bellini" in n]
    assert audit_rows(served, action="download", outcome="ok", account=acme_user)


def test_superseded_and_revoked_documents_are_marked(served: Served, browser: Browser, acme_user: str) -> None:
    from tests.cli.test_demo_end_to_end import attest

    old = served.documents["acme"]
    # Issue again (forced: nothing changed): the earlier document is superseded.
    proc = attest("render", "--tenant", "acme", "--period", PERIOD, "--as-of", "2026-10-21T12:00:00Z", "--force",
                  "--config", served.workspace / "attest.yaml", cwd=served.workspace)
    assert proc.returncode == 0, proc.stderr
    (new,) = [w for w in proc.stdout.split() if w.startswith("AT-")]
    assert new != old
    browser.login(acme_user)
    page = browser.get("/documents").text
    assert page.index(new) < page.index(old)  # latest first
    assert "status-superseded" in page and "Sostituita da" in page  # acme's pages are in Italian
    assert f"/documents/{old}/pack/tender" not in page  # packs are for the current document only
    assert browser.get(f"/documents/{old}/pack/tender").status_code == 409
    assert browser.get(f"/documents/{old}/pdf").status_code == 200  # still downloadable, marked superseded

    # An admin revokes the new one from the provider's page (CSRF token required).
    add_account(served, "docs-admin", role="admin", tenant=None)
    admin = Browser(served.url)
    admin.login("docs-admin")
    assert new in admin.get("/admin").text
    csrf = admin.csrf("/admin")
    assert admin.post(f"/admin/documents/{new}/revoke", data={"reason": "issued by mistake in a test"}
                      ).status_code == 403  # no token
    assert admin.post(f"/admin/documents/{new}/revoke", data={"reason": "short", "csrf_token": csrf}
                      ).status_code == 400
    done = admin.post(f"/admin/documents/{new}/revoke",
                      data={"reason": "issued by mistake in a test", "csrf_token": csrf})
    assert done.status_code == 303, done.text
    admin.close()
    assert audit_rows(served, action="revoke", outcome="ok", account="docs-admin")
    page = browser.get("/documents").text
    assert "revoked" in page and "issued by mistake in a test" in page
    assert browser.get(f"/documents/{new}/pack/tender").status_code == 409


def test_a_file_changed_on_disk_is_refused_with_409(served: Served, browser: Browser, acme_user: str) -> None:
    doc = render(served.workspace, "acme", as_of="2026-10-22T12:00:00Z")  # a current document of its own
    browser.login(acme_user)
    path = served.workspace / "documents" / "acme" / PERIOD / f"{doc}.html"
    original = path.read_bytes()
    assert sha256_hex(original)
    try:
        path.write_bytes(original.replace(b"</body>", b"<p>all controls pass</p></body>"))
        for kind in ("html", "html.dsse.json", "pack/tender"):
            response = browser.get(f"/documents/{doc}/{kind}")
            assert response.status_code == 409, (kind, response.status_code)
            assert b"all controls pass" not in response.content
        assert len(audit_rows(served, action="download", outcome="tampered", account=acme_user)) >= 2
        assert audit_rows(served, action="download", outcome="refused", account=acme_user)  # the pack
        assert browser.get(f"/documents/{doc}/pdf").status_code == 200  # the untouched files still serve
    finally:
        path.write_bytes(original)
    assert browser.get(f"/documents/{doc}/html").status_code == 200
