"""The portal end to end in a real browser: Playwright (the pip package) driving Debian's
Chromium (/usr/bin/chromium, headless, never a downloaded browser) against the real portal
served over HTTP on 127.0.0.1 (conftest `served`).

A tenant user signs in through the form and sees its own documents only; downloads a PDF
through the page's link and `attest verify` accepts it; a share link shows its NDA, and once it
is accepted hands out a recipient-stamped PDF that still verifies; the public verification page
says "authentic" for the genuine PDF and "tampered" for one with a byte changed in a signed
stream, and /d/<id> says "current"; signing out ends the session.

This is where what only a browser does is checked: the Secure cookie over http://127.0.0.1 (a
secure context), the Origin header the browser really sends with a form under the portal's
Referrer-Policy, the CSP (no inline script or style is needed), downloads by link.

With ATTEST_WRITE_SCREENSHOTS=1, the document list and a verification result are also written
to docs/portal-documents.png and docs/portal-verification.png (the README's screenshots; to
another directory with ATTEST_SCREENSHOT_DIR).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_demo_end_to_end import attest
from tests.portal.conftest import PASSWORD, PERIOD, Served, add_account

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed: `scripts/setup.sh --dev` installs it; "
                "these tests never download a browser", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright pip package is not installed")
expect = sync_api.expect

USER = "alice.acme"
DOCS = Path(os.environ.get("ATTEST_SCREENSHOT_DIR") or Path(__file__).resolve().parents[2] / "docs")
WRITE_SCREENSHOTS = os.environ.get("ATTEST_WRITE_SCREENSHOTS") == "1"
WIDTH = 1100
TIMEOUT_MS = 60_000  # verification and stamping run server-side: seconds on a slow machine


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def tenant_user(served: Served) -> str:
    add_account(served, USER, role="tenant", tenant="acme")
    return USER


@pytest.fixture
def page(chromium: Any, served: Served) -> Iterator[Any]:
    """A fresh browser profile (no cookies) and a page in it. Console errors (CSP violations
    among them) and failed subresource loads (but the favicon, which the portal does not have)
    are collected on `page.problems`."""
    context = chromium.new_context(base_url=served.url, accept_downloads=True,
                                   viewport={"width": WIDTH, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    problems: list[str] = []

    def console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(message.text)

    def response(answer: Any) -> None:
        if answer.status >= 400 and answer.request.resource_type != "document" \
                and not answer.url.endswith("/favicon.ico"):
            problems.append(f"{answer.status} {answer.url}")

    tab.on("console", console)
    tab.on("response", response)
    tab.problems = problems
    try:
        yield tab
    finally:
        context.close()


def sign_in(page: Any, served: Served, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert not page.get_by_role("alert").count(), page.get_by_role("alert").all_inner_texts()
    expect(page).to_have_url(f"{served.url}/documents")


def _verify_cli(served: Served, path: Path) -> subprocess.CompletedProcess[str]:
    ws = served.workspace
    return attest("verify", path, "--trust", ws / "keys" / "demo-ca.pem", cwd=ws)


def _issued(served: Served, tenant: str, ext: str = "pdf") -> Path:
    return served.workspace / "documents" / tenant / PERIOD / f"{served.documents[tenant]}.{ext}"


def _tampered_pdf(genuine: bytes) -> bytes:
    """One byte changed inside a stream the signature covers: the file still parses, so the
    verdict must be "tampered", not a refusal (as in test_verification.py)."""
    pdf = bytearray(genuine)
    at = pdf.index(b"stream", len(pdf) // 4) + 20
    pdf[at] ^= 0x01
    return bytes(pdf)


def _upload_and_verify(page: Any, path: Path) -> Any:
    page.goto("/verify")
    page.get_by_label("The document").set_input_files(str(path))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()
    return page.locator("main")


def _screenshot(page: Any, name: str) -> None:
    """The whole page as a 256-colour PNG (a fraction of the size, no visible loss on text)."""
    if not WRITE_SCREENSHOTS:
        return
    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    image.quantize(colors=256, dither=Image.Dither.NONE).save(DOCS / name, optimize=True)


# --- the tests ----------------------------------------------------------------------------------


def test_sign_in_shows_own_documents_only(page: Any, served: Served, tenant_user: str) -> None:
    sign_in(page, served, tenant_user)
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["attest_session"]
    # Secure and HttpOnly, and still kept and sent over http://127.0.0.1 (a secure context): the
    # page after the redirect is the signed-in one.
    assert session["secure"] and session["httpOnly"] and session["sameSite"] == "Strict"
    assert "attest_login" not in cookies  # the login form's CSRF cookie is not kept

    main = page.locator("main")
    # acme's language is Italian (attest init's demo tenants): its pages are in Italian.
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Attestazioni per")
    expect(page.get_by_role("heading", name=f"Periodo {PERIOD}")).to_be_visible()
    acme = page.locator("article", has_text=served.documents["acme"])
    expect(acme).to_have_count(1)
    expect(acme).to_contain_text("in vigore")
    # The verdict summary: a table of the document's controls with their verdicts.
    summary = acme.get_by_role("table")
    expect(summary.get_by_role("columnheader", name="Esito")).to_be_visible()
    expect(summary.get_by_role("cell", name="ISO-01", exact=False).first).to_be_visible()
    assert summary.locator("tbody tr").count() >= 3
    verdicts = {t.strip() for t in summary.locator("tbody tr td:nth-child(2)").all_inner_texts()}
    assert verdicts and verdicts <= {"superato", "non superato", "evidenze insufficienti", "in deroga"}, verdicts
    expect(main).not_to_contain_text(served.documents["bellini"])
    expect(main).not_to_contain_text("bellini", ignore_case=True)
    expect(page.get_by_role("button", name=f"Esci ({tenant_user})")).to_be_visible()
    _screenshot(page, "portal-documents.png")
    assert page.problems == []


def test_download_and_verify_pdf(page: Any, served: Served, tenant_user: str, tmp_path: Path) -> None:
    sign_in(page, served, tenant_user)
    acme = page.locator("article", has_text=served.documents["acme"])
    with page.expect_download() as info:
        acme.get_by_role("link", name="pdf", exact=True).click()
    download = info.value
    assert download.suggested_filename == f"{served.documents['acme']}.pdf"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(_issued(served, "acme").read_bytes()
                                                                            ).hexdigest()
    proc = _verify_cli(served, saved)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_share_link_nda_then_stamped_pdf(page: Any, served: Served, tmp_path: Path) -> None:
    from attest.portal.shares import create_link

    nda = "Confidential: for tender 12/2026 only.\nDo not forward to third parties."
    # In another thread: Playwright's sync API runs an event loop in this one, and reading the
    # signed log (pyHanko's certificate checks) calls asyncio.run().
    with ThreadPoolExecutor(1) as pool:
        made = pool.submit(create_link, served.portal, document_id=served.documents["acme"], scope="pdf",
                           recipient="Comune di Esempio", days=7, created_by="sara", nda_text=nda).result()
    page.goto(made.path)
    main = page.locator("main")
    expect(page.get_by_role("heading", name="Confidentiality terms")).to_be_visible()
    expect(main).to_contain_text("Do not forward to third parties.")
    expect(main).to_contain_text("Comune di Esempio")
    expect(page.get_by_role("link", name="Download")).to_have_count(0)  # not before the NDA is accepted

    page.get_by_label("I accept these terms").check()
    page.get_by_role("button", name="Accept and continue").click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", name="Confidentiality terms")).to_have_count(0)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    stamped = saved.read_bytes()
    assert stamped.startswith(b"%PDF") and stamped != _issued(served, "acme").read_bytes()
    proc = _verify_cli(served, saved)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"annotation\(s\) added after signing", proc.stdout), proc.stdout


def test_verification_page_authentic_tampered_and_status(page: Any, served: Served, tmp_path: Path) -> None:
    doc = served.documents["acme"]
    genuine = tmp_path / "genuine.pdf"
    genuine.write_bytes(_issued(served, "acme").read_bytes())
    result = _upload_and_verify(page, genuine)
    expect(result).to_contain_text("Authentic")
    expect(result).to_contain_text("issued by this provider and unaltered")
    expect(result).to_contain_text("current: the newest document for its period")
    expect(result).not_to_contain_text("Tampered")

    page.get_by_role("link", name=doc).click()  # the result links the document's public page
    expect(page).to_have_url(f"{served.url}/d/{doc}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(doc)
    expect(page.locator("main")).to_contain_text("Status: current")

    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(_tampered_pdf(genuine.read_bytes()))
    result = _upload_and_verify(page, tampered)
    expect(result).to_contain_text("Tampered")
    expect(result).to_contain_text("this file is not the document as issued")
    expect(result).to_contain_text("Signature: invalid")
    expect(result).not_to_contain_text("Authentic")
    _screenshot(page, "portal-verification.png")
    assert page.problems == []


def test_sign_out_ends_the_session(page: Any, served: Served, tenant_user: str) -> None:
    sign_in(page, served, tenant_user)
    token = {c["name"]: c["value"] for c in page.context.cookies()}["attest_session"]
    page.get_by_role("button", name=f"Esci ({tenant_user})").click()
    page.wait_for_load_state()
    expect(page).to_have_url(f"{served.url}/login")
    assert "attest_session" not in {c["name"] for c in page.context.cookies()}
    page.goto("/documents")
    expect(page).to_have_url(f"{served.url}/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # The old token is dead on the server too, not just forgotten by the browser.
    page.context.add_cookies([{"name": "attest_session", "value": token, "url": served.url, "secure": True,
                               "httpOnly": True, "sameSite": "Strict"}])
    page.goto("/documents")
    expect(page).to_have_url(f"{served.url}/login")
