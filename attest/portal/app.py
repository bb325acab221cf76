"""The portal's FastAPI application: routers, security headers, the stylesheet, and the
background task that seals the audit trail into the evidence log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.resources import files

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from attest.portal import admin, api, audit, auth, documents, shares, verification
from attest.portal.context import Portal

logger = logging.getLogger(__name__)

# Every page is served with these. The CSP allows no inline script or style and no framing;
# pages work without any script at all.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # share-link tokens are in URLs: never send them onwards
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}
SEAL_EVERY_S = 5.0  # how often pending audit entries are sealed into the evidence log


def create_app(portal: Portal, seal_every_s: float = SEAL_EVERY_S) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def sealer() -> None:
            while True:
                await asyncio.sleep(seal_every_s)
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

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    stylesheet = files("templates").joinpath("portal/portal.css").read_bytes()

    @app.get("/static/portal.css", include_in_schema=False)
    def css() -> Response:
        return Response(stylesheet, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    for module in (auth, documents, verification, shares, api, admin, audit):
        app.include_router(module.router)
    return app
