"""The portal application itself: it starts over a workspace, serves its stylesheet and its
OpenAPI document, and sends the security headers with every answer."""

from __future__ import annotations

import httpx

from attest.portal.app import SECURITY_HEADERS


def test_every_answer_carries_the_security_headers(served) -> None:  # type: ignore[no-untyped-def]
    for path in ("/static/portal.css", "/api/openapi.json", "/no-such-page"):
        response = httpx.get(served.url + path)
        for name, value in SECURITY_HEADERS.items():
            if name == "Cache-Control" and path == "/static/portal.css":
                continue  # the stylesheet may be cached; nothing else may
            assert response.headers.get(name) == value, (path, name)


def test_openapi_document_is_served(served) -> None:  # type: ignore[no-untyped-def]
    doc = httpx.get(served.url + "/api/openapi.json").json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "Attest portal API"


def test_browsers_get_an_html_error_page_and_the_api_keeps_json(served) -> None:  # type: ignore[no-untyped-def]
    missing = httpx.get(served.url + "/no-such-page")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Not found" in missing.text and "detail" not in missing.text
    api = httpx.get(served.url + "/api/v1/documents")
    assert api.status_code == 401 and api.headers["content-type"].startswith("application/json")
    assert api.headers.get("www-authenticate", "").startswith("Bearer")
