"""HTML pages: one Jinja2 environment over templates/portal/ (autoescaped), and the response
helper every page handler uses, which passes the signed-in account and its CSRF token to the
template so every form carries it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


@lru_cache(maxsize=1)
def environment() -> Environment:
    return Environment(loader=PackageLoader("templates", "portal"), autoescape=select_autoescape(["j2", "html"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render *template* with the request's account (or None) and CSRF token (or "")."""
    account = getattr(request.state, "account", None)
    csrf = getattr(request.state, "csrf_token", "")
    portal = getattr(request.app.state, "portal", None)
    if portal is not None:  # every page names the provider, public ones included
        context.setdefault("provider_name", portal.loaded.model.provider.name)
    html = environment().get_template(template).render(account=account, csrf_token=csrf, **context)
    return HTMLResponse(html, status_code=status)
