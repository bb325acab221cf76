"""The portal pages' language (English or Italian) and their texts.

Which language a page is in:

* a signed-in tenant user: their tenant's `language` in attest.yaml (the language their signed
  documents are in), whatever the browser says;
* provider staff (admin, sales): English, the language of the provider's own pages;
* anyone else (public pages, share links, sign-in): `?lang=it|en` when given (then remembered in
  the `attest_lang` cookie), else that cookie, else the browser's Accept-Language negotiated
  with Babel, else English.

The texts are templates/translations/portal-<lang>.yaml, read by the loader the signed documents
use (attest.render.html.translations). Templates call `_("dotted.key", name=value)`: the text is
HTML-escaped and so is every value, unless the value is already Markup (a link built in the
template). A missing key raises, so a page never shows a blank where a text should be.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel import Locale, negotiate_locale
from fastapi import Request, Response
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from attest.canonical import parse_utc
from attest.errors import AttestError
from attest.render.html import LANGUAGES, format_instant, translations

DEFAULT = "en"
COOKIE = "attest_lang"
COOKIE_S = 365 * 86400
CATALOG = "portal"
MAX_ACCEPT_LANGUAGE = 512  # characters of the header looked at; the rest is ignored


def lookup(lang: str, key: str) -> str:
    """The text at dotted *key* of *lang*'s catalog; KeyError when there is none."""
    node: Any = translations(lang, CATALOG)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"portal-{lang}.yaml has no text {key!r}")
        node = node[part]
    if not isinstance(node, str):
        raise KeyError(f"portal-{lang}.yaml: {key!r} is not a text")
    return node


def text(lang: str, key: str, **values: object) -> str:
    """A plain (unescaped) text, for messages computed in Python and escaped by the template."""
    return lookup(lang, key).format(**values)


@pass_context
def gettext(ctx: Context, key: str, **values: object) -> Markup:
    """The template function `_`: the page's text at *key*, escaped, with *values* escaped in."""
    return escape(lookup(ctx["lang"], key)).format(**values)


@pass_context
def when(ctx: Context, moment: datetime | str | None) -> str:
    """The template filter `when`: a UTC time (a datetime or an RFC 3339 string) in the page's
    language, as the signed documents write it (Babel, en_GB / it_IT)."""
    return format_when(moment, ctx["lang"])


def format_when(moment: datetime | str | None, lang: str) -> str:
    if not moment:
        return ""
    if not isinstance(moment, str):
        return format_instant(moment, lang)
    try:
        return format_instant(parse_utc(moment), lang)
    except ValueError:  # not one of ours: shown as it is rather than not at all
        return moment


def negotiate(accept_language: str | None) -> str | None:
    """The language an Accept-Language header prefers among ours (Babel's negotiation), or None."""
    ranked: list[tuple[float, int, str]] = []
    for n, item in enumerate((accept_language or "")[:MAX_ACCEPT_LANGUAGE].split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, n, tag.strip().replace("-", "_")))
    found = negotiate_locale([tag for _, _, tag in sorted(ranked)], list(LANGUAGES))
    return found if found in LANGUAGES else None


def fixed_language(request: Request) -> str | None:
    """The language a signed-in account imposes (see the module's docstring), or None."""
    account = getattr(request.state, "account", None)
    if account is None:
        return None
    if account.role != "tenant":
        return DEFAULT
    try:
        return str(request.app.state.portal.loaded.tenant(account.tenant_id).language)
    except AttestError:  # a tenant no longer configured: the visitor's choice
        return None


def chosen_language(request: Request) -> str | None:
    """`?lang=` when it names one of ours."""
    lang = request.query_params.get("lang")
    return lang if lang in LANGUAGES else None


def request_language(request: Request) -> str:
    """The language of the page answering *request*."""
    remembered = request.cookies.get(COOKIE)
    return (fixed_language(request) or chosen_language(request)
            or (remembered if remembered in LANGUAGES else None)
            or negotiate(request.headers.get("accept-language")) or DEFAULT)


def remember_choice(request: Request, response: Response) -> None:
    """Keep a `?lang=` choice in a cookie, for the pages that follow. Not HttpOnly (it is no
    secret and no script reads it anyway); SameSite=Strict and Secure like the portal's others."""
    lang = chosen_language(request)
    if lang is not None and fixed_language(request) is None and request.cookies.get(COOKIE) != lang:
        response.set_cookie(COOKIE, lang, max_age=COOKIE_S, path="/", secure=True, samesite="strict")


def language_names() -> dict[str, str]:
    """Each language in its own name ("English", "italiano"), for the language switch."""
    return {lang: Locale.parse(lang).get_display_name(lang) or lang for lang in LANGUAGES}
