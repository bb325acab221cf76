"""The portal's pages in Italian and English (attest/portal/i18n.py): a signed-in tenant user gets
their tenant's language whatever the browser says; public pages follow ?lang=, then the
attest_lang cookie, then Accept-Language, then English; dates are Babel's in that language; every
text a template asks for exists in both catalogs; and the cached document list is kept per
language.

This module's workspace is its own: acme is made English (the demo tenants are all Italian), so
one tenant of each language is served."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import httpx
import pytest
import yaml

from tests.cli.test_demo_end_to_end import attest
from tests.portal.conftest import TENANTS, Browser, Served, add_account, render

ACME_EN, BELLINI_IT = "i18n-acme", "i18n-bellini"
HTML_LANG = re.compile(r'<html lang="([a-z]+)">')


def _month(lang: str) -> str:
    """This month's name as Babel writes it in a date of *lang* (documents are issued today)."""
    from datetime import UTC, datetime

    from babel.dates import format_date

    return format_date(datetime.now(UTC).date(), "MMMM y", locale={"en": "en_GB", "it": "it_IT"}[lang])


@pytest.fixture(scope="module")
def portal_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Overrides conftest's: the same workspace, with acme's language set to English."""
    root = tmp_path_factory.mktemp("portal-i18n")
    ws = root / "ws"
    assert attest("init", ws, cwd=root).returncode == 0
    path = ws / "attest.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    languages = {t["id"]: t["language"] for t in doc["tenants"]}
    assert languages["bellini"] == "it"
    for tenant in doc["tenants"]:
        if tenant["id"] == "acme":
            tenant["language"] = "en"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return ws, {t: render(ws, t) for t in TENANTS}


@pytest.fixture(scope="module")
def accounts(served: Served) -> None:
    add_account(served, ACME_EN, tenant="acme")
    add_account(served, BELLINI_IT, tenant="bellini")


def _lang(text: str) -> str:
    found = HTML_LANG.search(text)
    assert found, text[:200]
    return found.group(1)


def _signed_in(served: Served, username: str) -> Browser:
    browser = Browser(served.url)
    assert browser.login(username).status_code == 303
    return browser


# --- tenant users: their tenant's language -------------------------------------------------------


def test_italian_tenant_sees_italian_and_english_tenant_english(served: Served, accounts: None) -> None:
    it, en = _signed_in(served, BELLINI_IT), _signed_in(served, ACME_EN)
    try:
        # The browser's wishes do not count for a tenant user: the tenant's language does.
        page_it = it.get("/documents?lang=en", headers={"Accept-Language": "en-GB,en;q=0.9"})
        page_en = en.get("/documents?lang=it", headers={"Accept-Language": "it-IT,it;q=0.9"})
    finally:
        it.close()
        en.close()
    assert page_it.status_code == page_en.status_code == 200
    assert _lang(page_it.text) == "it" and _lang(page_en.text) == "en"
    assert served.documents["bellini"] in page_it.text and served.documents["acme"] in page_en.text
    for words in ("Attestazioni per", "Periodo 2026-10", "in vigore", "Scarica:", "pacchetto per gare",
                  "Emessa il", _month("it"), "Esito", "Esci (i18n-bellini)", "Verifica un documento"):
        assert words in page_it.text, words
    for words in ("Attestations for", "Period 2026-10", "current", "Download:", "tender pack", "Issued ",
                  _month("en"), "Verdict", "Sign out i18n-acme", "Verify a document"):
        assert words in page_en.text, words
    assert "Attestazioni per" not in page_en.text and "Attestations for" not in page_it.text
    # No switch on a tenant user's page (its language is the tenant's), and no cookie set.
    assert "?lang=" not in page_it.text and "?lang=" not in page_en.text
    assert "attest_lang" not in page_en.headers.get("set-cookie", "")


@contextmanager
def _tenant_language(served: Served, tenant: str, language: str) -> Iterator[None]:
    """Run with *tenant*'s language changed in the portal's (frozen) configuration."""
    portal = served.portal
    original = portal.loaded  # type: ignore[attr-defined]
    changed = copy.copy(original)
    tenants = [t.model_copy(update={"language": language}) if t.id == tenant else t for t in original.model.tenants]
    changed.model = original.model.model_copy(update={"tenants": tenants})
    portal.loaded = changed  # type: ignore[attr-defined]
    try:
        yield
    finally:
        portal.loaded = original  # type: ignore[attr-defined]


def test_the_kept_document_list_is_per_language(served: Served, accounts: None) -> None:
    """listing.py keeps the rendered list per view generation: with the same generation, a change
    of the tenant's language still shows the list in the new language."""
    browser = _signed_in(served, ACME_EN)
    try:
        before = browser.get("/documents").text
        with _tenant_language(served, "acme", "it"):
            during = browser.get("/documents").text
        after = browser.get("/documents").text
    finally:
        browser.close()
    assert "Attestations for" in before and "Attestations for" in after
    assert "Attestazioni per" in during and "Attestations for" not in during and _lang(during) == "it"


def test_an_error_page_for_a_tenant_user_is_in_the_tenant_language(served: Served, accounts: None) -> None:
    browser = _signed_in(served, BELLINI_IT)
    try:
        missing = browser.get("/documents/AT-00000000000000000000/pdf")
    finally:
        browser.close()
    assert missing.status_code == 404 and _lang(missing.text) == "it" and "Non trovato" in missing.text


# --- everyone else: ?lang, the cookie, Accept-Language -------------------------------------------


def test_public_pages_follow_lang_then_cookie_then_accept_language(served: Served) -> None:
    doc = served.documents["bellini"]
    url = f"{served.url}/d/{doc}"
    plain = httpx.get(url)
    assert plain.status_code == 200 and _lang(plain.text) == "en" and "Issued by this provider" in plain.text
    assert 'href="?lang=it"' in plain.text and "attest_lang" not in plain.headers.get("set-cookie", "")

    chosen = httpx.get(url + "?lang=it", headers={"Accept-Language": "en"})
    assert _lang(chosen.text) == "it" and "Emesso da questo fornitore" in chosen.text
    assert "in vigore: è il documento più recente" in chosen.text and _month("it") in chosen.text
    cookie = chosen.headers["set-cookie"]
    assert cookie.startswith("attest_lang=it;") and "SameSite=strict" in cookie and "Path=/" in cookie
    assert 'href="?lang=en"' in chosen.text

    remembered = httpx.get(url, cookies={"attest_lang": "it"}, headers={"Accept-Language": "en"})
    assert _lang(remembered.text) == "it"
    overridden = httpx.get(url + "?lang=en", cookies={"attest_lang": "it"})
    assert _lang(overridden.text) == "en" and "attest_lang=en" in overridden.headers["set-cookie"]

    for header, expected in (("it-IT,it;q=0.9,en;q=0.8", "it"), ("it", "it"), ("de-DE,en;q=0.5,it;q=0.4", "en"),
                             ("de-DE,it;q=0.5,en;q=0.4", "it"), ("fr, de", "en"), ("en;q=0, it;q=0.1", "it"),
                             ("xx;q=bad", "en"), ("", "en")):
        answer = httpx.get(url, headers={"Accept-Language": header})
        assert _lang(answer.text) == expected, header
    for bogus in ("xx", "IT", "../it", ""):
        assert _lang(httpx.get(url, params={"lang": bogus}).text) == "en", bogus
        assert "attest_lang" not in httpx.get(url, params={"lang": bogus}).headers.get("set-cookie", "")
    assert _lang(httpx.get(url, cookies={"attest_lang": "de"}).text) == "en"


def test_public_pages_in_italian(served: Served) -> None:
    it = {"Accept-Language": "it-IT"}
    cases = {
        "/login": ("Accesso", "Nome utente", "Password dimenticata?"),
        "/verify": ("Verifica un documento", "al massimo 20 MB", "non viene conservato"),
        "/d/AT-00000000000000000000": ("Documento sconosciuto", "non è presente nel registro"),
        "/no-such-page": ("Non trovato", "Torna alla pagina iniziale"),
        "/s/" + "x" * 43: ("Questo link non può essere usato", "Link inesistente"),
    }
    for path, phrases in cases.items():
        answer = httpx.get(served.url + path, headers=it)
        assert _lang(answer.text) == "it", path
        for phrase in phrases:
            assert phrase in answer.text, (path, phrase)
        assert "<script" not in answer.text and " style=" not in answer.text


def test_share_page_with_nda_in_italian(served: Served) -> None:
    from attest.portal.shares import create_link

    made = create_link(served.portal, document_id=served.documents["bellini"], scope="tender-pack",  # type: ignore[arg-type]
                       recipient="Comune di Esempio", days=3, created_by="sara", nda_text="Riservato.")
    page = httpx.get(served.url + made.path, params={"lang": "it"})
    assert page.status_code == 200 and _lang(page.text) == "it"
    for phrase in ("Attestazione condivisa", "Condivisa con", "Condizioni di riservatezza", "Accetto queste condizioni",
                   "il pacchetto di evidenze per la gara (ZIP)", "in vigore", "Riservato."):
        assert phrase in page.text, phrase
    english = httpx.get(served.url + made.path)
    assert "Confidentiality terms" in english.text and "I accept these terms" in english.text


def test_verification_result_in_italian(served: Served) -> None:
    doc = served.documents["bellini"]
    pdf = (served.workspace / "documents" / "bellini" / "2026-10" / f"{doc}.pdf").read_bytes()
    page = httpx.post(served.url + "/verify", files={"file": ("a.pdf", pdf, "application/pdf")},
                      headers={"Accept-Language": "it"}, timeout=60)
    assert page.status_code == 200 and _lang(page.text) == "it"
    for phrase in ("Autentico", "emesso da questo fornitore e non modificato", "Firma: valida e attendibile",
                   "il file è esattamente quello emesso", "in vigore: è il documento più recente"):
        assert phrase in page.text, phrase
    refused = httpx.post(served.url + "/verify", files={"file": ("a.txt", b"hello", "text/plain")},
                         headers={"Accept-Language": "it"})
    assert refused.status_code == 400 and "Il file non è un documento PDF, HTML o JSON." in refused.text
    # The API stays as it was: codes, and its own (English) words, whatever the browser's language.
    api = httpx.post(served.url + "/api/v1/verify", files={"file": ("a.pdf", pdf, "application/pdf")},
                     headers={"Accept-Language": "it"}, timeout=60)
    assert api.json()["result"] == "authentic" and api.json()["signature"] == "valid and trusted"


def test_login_errors_in_the_visitors_language(served: Served) -> None:
    browser = Browser(served.url)
    try:
        token = browser.csrf("/login?lang=it")
        wrong = browser.post("/login", data={"username": "nobody", "password": "x", "csrf_token": token},
                             headers={"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())})
    finally:
        browser.close()
    assert browser.cookies.get("attest_lang") == "it"
    assert wrong.status_code == 401 and "Nome utente o password errati" in wrong.text


# --- the catalogs ---------------------------------------------------------------------------------


def _catalog(lang: str) -> dict[str, object]:
    data = yaml.safe_load(resources.files("templates").joinpath(f"translations/portal-{lang}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _keys(node: object, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return {prefix[:-1]}
    return set().union(*(_keys(v, f"{prefix}{k}.") for k, v in node.items()))


def test_both_catalogs_have_the_same_keys_and_placeholders() -> None:
    en, it = _catalog("en"), _catalog("it")
    assert _keys(en) == _keys(it)
    from attest.portal.i18n import lookup

    for key in _keys(en):
        names_en = set(re.findall(r"\{(\w+)\}", lookup("en", key)))
        names_it = set(re.findall(r"\{(\w+)\}", lookup("it", key)))
        assert names_en == names_it, key
        assert lookup("en", key).strip() and lookup("it", key).strip(), key


def _template_sources() -> dict[str, str]:
    folder = resources.files("templates").joinpath("portal")
    staff = re.compile(r"^(admin.*|users|shares_admin|audit_admin)\.html\.j2$")
    return {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()
            if p.name.endswith(".j2") and not staff.match(p.name)}


def test_every_text_the_templates_ask_for_exists_in_both_languages() -> None:
    from attest.attestation import Verdict
    from attest.portal import library, shares, verification
    from attest.portal.app import ERROR_TEXTS
    from attest.portal.i18n import lookup

    sources = _template_sources()
    literal = {key for text in sources.values() for key in re.findall(r'_\("([\w.-]+)"', text)
               if not key.endswith(".")}  # "states." ~ value: the built keys below
    assert len(literal) > 80  # the pattern finds the texts (a broken pattern would pass vacuously)
    # Keys built from a value: every value the code can give.
    here = Path(verification.__file__)
    src = here.read_text() + here.with_name("upload.py").read_text()
    error_keys = set(re.findall(r'UploadRejected\(\d+, "(\w+)"', src)) | set(re.findall(r'key="(\w+)"', src))
    built = ({f"states.{s}" for s in ("current", "superseded", "revoked", "unknown")}
             | {f"verdicts.{v.value}" for v in Verdict}
             | {f"packs.{k}" for k in library.PACK_KINDS}
             | {f"share.scopes.{s}" for s in shares.SCOPES}
             | {f"verify.{part}.{r}" for part in ("results", "explain") for r in ("authentic", "tampered", "unknown")}
             | {f"verify.signatures.{c}" for c in verification.SIGNATURE_WORDS}
             | {f"verify.matched.{c}" for c in verification.MATCHED_WORDS}
             | {f"verify.errors.{c}" for c in error_keys}
             | {f"errors.{c}.{part}" for c in (*ERROR_TEXTS, "other") for part in ("title", "message")}
             | {f"share_gone.{o}" for o in ("expired", "revoked", "withdrawn", "error", "not_found")}
             | {f"reset.problems.{p}" for p in ("too_short", "too_long", "only_spaces", "contains_username",
                                                  "mismatch")}
             | {"login.failure", "login.expired", "login.rate_limited", "verify.unavailable", "verify.rate_limited"})
    assert {"unsupported", "pdf_with_envelope", "too_large", "unusable"} <= error_keys
    for lang in ("en", "it"):
        for key in sorted(literal | built):
            assert lookup(lang, key), (lang, key)


def test_every_template_renders_in_both_languages() -> None:
    """Each page template with a plausible context, under StrictUndefined: a missing text or
    value raises instead of rendering a blank."""
    from datetime import UTC, datetime

    from attest.portal.pages import environment
    from attest.portal.shares import LinkInfo
    from attest.portal.verification import PublicDocument, Revocation, UploadVerdict

    doc = PublicDocument(document_id="AT-00000000000000000000", known=True, status="revoked", summary="x",
                         scope="tenant", tenant_name="ACME", period="2026-10", issued_at="2026-10-20T12:00:00Z",
                         overall="insufficient_evidence",
                         revoked=Revocation(at="2026-10-21T08:00:00Z", by="ops", reason="wrong contract"),
                         files_sha256={"pdf": "ab" * 32})
    verdict = UploadVerdict(result="tampered", kind="pdf", sha256="cd" * 32, signature="?", reasons=["r"],
                            added_after_signing=["note"], document=doc)
    link = LinkInfo("SL-1", "acme", doc.document_id, "audit-pack", "Comune", "Terms\nMore", "sara",
                    "2026-10-20T12:00:00Z", "2026-10-27T12:00:00Z", None, 0)

    class State:
        state, overall, period = "current", "pass", "2026-10"

    view = {"id": doc.document_id, "state": "superseded", "overall": "fail", "issued_at": datetime.now(UTC),
            "revoked_on": None, "superseded_by": "AT-1", "reason": "", "problem": "gone", "kinds": ["pdf"],
            "packs": ["tender"], "controls": [{"control_id": "C1", "title": "t", "verdict": "waived", "reason": "r"}]}
    base = {"account": None, "csrf_token": "", "provider_name": "P", "language_switch": True}
    contexts = {
        "base.html.j2": {},
        "login.html.j2": {"error": "e"},
        "reset.html.j2": {"invalid": False, "error": "e", "username": "u"},
        "reset_done.html.j2": {},
        "documents.html.j2": {"listing": ""},
        "documents_list.html.j2": {"tenant": "ACME", "periods": [("2026-10", [view])]},
        "document_status.html.j2": {"doc": doc, "unavailable": False},
        "verify.html.j2": {"verdict": verdict, "error": "e", "max_upload_mb": 20, "signature_code": "invalid",
                           "matched_code": None},
        "share.html.j2": {"link": link, "legal_name": "ACME", "doc": State(), "accepted": False, "token": "t"},
        "share_gone.html.j2": {"outcome": "expired"},
        "error.html.j2": {"title": "t", "message": "m", "status_code": 404},
        "_status_words.html.j2": {},
    }
    assert set(contexts) == set(_template_sources())  # a new page template gets a case here
    for lang in ("en", "it"):
        for name, context in contexts.items():
            html = environment().get_template(name).render(**base, **context, lang=lang)
            assert "{" not in re.sub(r"<[^>]*>", "", html).replace("{{", ""), (lang, name)  # no unfilled placeholder
