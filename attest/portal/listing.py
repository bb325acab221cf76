"""A tenant's document list, rendered once per version of the document view.

The list is the page tenant users open most, and the same for every request until a document
is issued or revoked: its HTML (the page's main block, without the account or CSRF token the
page around it carries) is kept per (portal, tenant, view generation, language). A list that shows a
problem (a document's JSON missing or altered) is not kept, so it is shown again as soon as the
file is back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from markupsafe import Markup

from attest.errors import AttestError
from attest.portal import library
from attest.portal.context import Portal
from attest.portal.library import DocumentLog
from attest.portal.pages import environment

LISTINGS_KEPT = 2048  # rendered lists kept (LRU): one per active tenant

_listings: OrderedDict[tuple[int, str, int, str], Markup] = OrderedDict()
_lock = threading.Lock()


def tenant_listing(portal: Portal, dlog: DocumentLog, tenant: str, lang: str) -> Markup:
    """The main block of *tenant*'s document list as of *dlog*, in *lang*."""
    # The language is in the key: a tenant's language may change in attest.yaml, and the same
    # process may serve the list in both (tests, a reloaded configuration).
    kept = kept_listing(portal, dlog, tenant, lang)
    if kept is not None:
        return kept
    key = (id(portal), tenant, dlog.generation, lang)
    html, problems = _render(portal, dlog, tenant, lang)
    if not problems:
        with _lock:
            _listings[key] = html
            while len(_listings) > LISTINGS_KEPT:
                _listings.popitem(last=False)
    return html


def kept_listing(portal: Portal, dlog: DocumentLog, tenant: str, lang: str) -> Markup | None:
    """The list as kept, or None when it must be rendered (reading the documents' JSON files)."""
    key = (id(portal), tenant, dlog.generation, lang)
    with _lock:
        kept = _listings.get(key)
        if kept is not None:
            _listings.move_to_end(key)
        return kept


def _render(portal: Portal, dlog: DocumentLog, tenant: str, lang: str) -> tuple[Markup, bool]:
    periods: dict[str, list[dict[str, Any]]] = {}
    problems = False
    for listed in library.tenant_documents(dlog, tenant):
        view = library.status_view(listed.status)
        # The times themselves: the template writes them in the page's language (Babel).
        view["issued_at"], view["revoked_on"] = listed.status.issued_at, listed.status.revoked_at
        view["controls"], view["problem"] = library.summary(portal, listed.record)
        problems = problems or view["problem"] is not None
        view["kinds"] = list(library.KINDS)
        view["packs"] = list(library.PACK_KINDS) if listed.status.state == "current" else []
        periods.setdefault(str(listed.status.period), []).append(view)
    ordered = [(p, periods[p]) for p in sorted(periods, reverse=True)]
    try:
        legal_name = portal.loaded.tenant(tenant).legal_name
    except AttestError:
        legal_name = tenant
    html = environment().get_template("documents_list.html.j2").render(tenant=legal_name, periods=ordered,
                                                                           lang=lang)
    return Markup(html), problems  # rendered by the autoescaping environment: safe as it is


def forget() -> None:
    """Drop every kept list (tests)."""
    with _lock:
        _listings.clear()
