"""The portal's FastAPI application: routers, security headers, the stylesheet, and the
background task that seals the audit trail into the evidence log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import ClassVar

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attest.portal import admin, admin_issue, admin_users, api, audit, auth, documents, i18n, shares, verification
from attest.portal.context import Portal
from attest.portal.pages import page

logger = logging.getLogger(__name__)

# Every page is served with these. The CSP allows no inline script or style and no framing;
# pages work without any script at all.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" on same-origin form
    # posts, which the CSRF check refuses. Share-link tokens in URLs still never reach another site.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# What an error page says (title, message), by status: "errors.<status>" in the portal's
# catalog (templates/translations/portal-<lang>.yaml), nothing more specific, so a page never
# confirms what exists. Statuses without their own texts get "errors.other".
ERROR_TEXTS = (400, 401, 403, 404, 405, 409, 410, 413, 429, 503)


def error_texts(lang: str, status: int) -> tuple[str, str]:
    key = f"errors.{status if status in ERROR_TEXTS else 'other'}"
    return i18n.text(lang, key + ".title"), i18n.text(lang, key + ".message")


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every answer that does not set them itself. A plain ASGI
    middleware: Starlette's BaseHTTPMiddleware (`@app.middleware`) wraps every response in extra
    tasks and streams, a measurable share of a small page's cost under load."""

    _HEADERS: ClassVar[tuple[tuple[bytes, bytes], ...]] = tuple(
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items())

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((k, v) for k, v in self._HEADERS if k not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(portal: Portal, seal_every_s: float | None = None) -> FastAPI:
    """The portal's application; staged audit entries are sealed every *seal_every_s* seconds
    (default `portal.audit_seal_seconds`)."""
    every = portal.settings.audit_seal_seconds if seal_every_s is None else seal_every_s

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def sealer() -> None:
            while True:
                await asyncio.sleep(every)
                try:
                    await run_in_threadpool(audit.seal_pending, portal)
                except Exception:  # the next round retries; the rows stay pending meanwhile
                    logger.exception("sealing the portal audit trail failed")

        task = asyncio.create_task(sealer())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await run_in_threadpool(audit.seal_pending, portal)  # nothing recorded is left unsealed

    app = FastAPI(title="Attest portal API", version="1", openapi_url="/api/openapi.json", docs_url=None,
                  redoc_url=None, lifespan=lifespan)
    app.state.portal = portal

    app.add_middleware(SecurityHeaders)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Browsers get an HTML page for an error; the API (and JSON endpoints) keep FastAPI's JSON.
        The page says only what kind of error it was: details (whose document, which file) stay
        in the audit trail."""
        if request.url.path.startswith("/api/") or request.url.path.endswith(".json"):
            return await http_exception_handler(request, exc)
        title, message = error_texts(i18n.request_language(request), exc.status_code)
        response = page(request, "error.html.j2", status=exc.status_code, title=title, message=message,
                        status_code=exc.status_code)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    stylesheet = files("templates").joinpath("portal/portal.css").read_bytes()

    @app.get("/static/portal.css", include_in_schema=False)
    def css() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    for module in (auth, documents, verification, shares, api, admin, admin_users, admin_issue, audit):
        app.include_router(module.router)
    return app
