"""Verification uploads are rate limited per client address (`portal.verify_uploads_per_minute`,
30 by default): the form and the API answer 429 with Retry-After once an address used up its
minute, before reading the body; every refusal is audited; other addresses are not affected,
and the limit lifts as the minute passes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.portal.conftest import Clock, Served, audit_rows, portal_settings

NOT_A_DOCUMENT = {"file": ("a.txt", b"hello", "text/plain")}  # refused (400) cheaply, but counted


@pytest.fixture
def proxied(served: Served) -> Iterator[None]:
    """The test client is a trusted proxy: X-Forwarded-For names the client address, so each
    test uses addresses of its own."""
    with portal_settings(served, trusted_proxies=["127.0.0.1"]):
        yield


@pytest.fixture
def receive_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every time an upload body starts to be read (the server runs in this process)."""
    from attest.portal import verification

    calls: list[object] = []
    real = verification.receive

    async def counting(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append(args)
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(verification, "receive", counting)
    return calls


def _post(served: Served, client: str, path: str = "/api/v1/verify", **kwargs: object) -> httpx.Response:
    return httpx.post(served.url + path, files=NOT_A_DOCUMENT, headers={"X-Forwarded-For": client,
                                                                        **kwargs.pop("headers", {})},  # type: ignore[dict-item]
                      timeout=60, **kwargs)  # type: ignore[arg-type]


def test_the_31st_upload_in_a_minute_is_refused(served: Served, proxied: None, clock: Clock,
                                                receive_calls: list[object]) -> None:
    assert served.portal.settings.verify_uploads_per_minute == 30  # type: ignore[attr-defined]
    for n in range(30):
        path = "/verify" if n % 2 else "/api/v1/verify"  # the page and the API share the count
        assert _post(served, "198.51.100.1", path).status_code == 400, n
    assert len(receive_calls) == 30

    api = _post(served, "198.51.100.1")
    assert api.status_code == 429 and api.json()["error"] == "rate_limited"
    assert 1 <= int(api.headers["retry-after"]) <= 60
    page = _post(served, "198.51.100.1", "/verify", headers={"Accept-Language": "it"})
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
    assert "Troppe verifiche dal vostro indirizzo" in page.text and 'action="/verify"' in page.text
    assert int(page.headers["retry-after"]) >= 1
    assert len(receive_calls) == 30  # the refused bodies were not read

    refused = [r for r in audit_rows(served, action="verify", outcome="rate_limited")
               if r.client == "198.51.100.1"]  # type: ignore[attr-defined]
    assert len(refused) == 2 and json.loads(refused[0].detail)["error"] == "rate_limited"  # type: ignore[attr-defined]

    # Another address is not limited; and once the minute has passed, this one is let in again.
    assert _post(served, "198.51.100.2").status_code == 400
    clock.advance(seconds=61)
    assert _post(served, "198.51.100.1").status_code == 400


def test_the_limit_is_a_setting(served: Served, proxied: None) -> None:
    with portal_settings(served, verify_uploads_per_minute=2):
        assert [_post(served, "198.51.100.3").status_code for _ in range(3)] == [400, 400, 429]
    assert _post(served, "198.51.100.3").status_code == 400  # the default (30) again


def test_the_setting_is_validated() -> None:
    from pydantic import ValidationError

    from attest.config import PortalConfig

    assert PortalConfig().verify_uploads_per_minute == 30
    with pytest.raises(ValidationError):
        PortalConfig(verify_uploads_per_minute=0)
