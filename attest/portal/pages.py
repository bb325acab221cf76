"""HTML pages: one Jinja2 environment over templates/portal/ (autoescaped), and the response
helper every page handler uses, which passes the signed-in account and its CSRF token to the
template so every form carries it, and the page's language (attest/portal/i18n.py)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from attest.portal import i18n


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("templates", "portal"), autoescape=select_autoescape(["j2", "html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["_"] = i18n.gettext
    env.globals["language_names"] = i18n.language_names()
    env.filters["when"] = i18n.when
    return env


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render *template* with the request's account (or None), CSRF token (or "") and language."""
    account = getattr(request.state, "account", None)
    csrf = getattr(request.state, "csrf_token", "")
    portal = getattr(request.app.state, "portal", None)
    if portal is not None:  # every page names the provider, public ones included
        context.setdefault("provider_name", portal.loaded.model.provider.name)
    context.setdefault("lang", i18n.request_language(request))
    # The switch is offered only where the visitor chooses: a tenant user's pages follow the tenant.
    context.setdefault("language_switch", i18n.fixed_language(request) is None)
    html = environment().get_template(template).render(account=account, csrf_token=csrf, **context)
    response = HTMLResponse(html, status_code=status)
    i18n.remember_choice(request, response)
    return response
