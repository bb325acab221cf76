"""Waivers: accepted exceptions, kept in `waivers.yaml` beside the configuration.

A waiver names a control, a tenant (or `all`), why the exception is accepted, who approved it and
until when. A control it covers shows as **waived** with the justification and the approver —
never as a pass — and the document says what the result would have been without it. A waiver
applies through its expiry date (in the provider's time zone) and not a day longer; an expired one
is shown as expired and changes nothing. A waiver of a control that passes anyway is not used: the
pass stands, and the document says the waiver was not needed.

The file is part of the configuration: its waivers enter the configuration digest, each tenant's
configuration record holds the waivers that concern it (the provider-wide record only those for
`all`, so no tenant is named there), and every result cites those records.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from attest.attestation import Result, Verdict, WaiverRef
from attest.config import ConfigError

ALL = "all"
DEFAULT_FILE = "waivers.yaml"


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    control: str = Field(pattern=r"^[A-Z]{2,5}-\d{2}$")
    tenant: str = Field(min_length=1)  # a tenant id, or "all"
    justification: str = Field(min_length=10)  # a sentence a customer can read, not "ok"
    approver: str = Field(min_length=2)
    expires: date
    granted: date | None = None
    reference: str = ""  # e.g. a risk register or ticket number

    @field_validator("justification", "approver", "reference")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return " ".join(value.split())

    def concerns(self, control_id: str, tenant_id: str) -> bool:
        return self.control == control_id and self.tenant in (tenant_id, ALL)

    def active_on(self, day: date) -> bool:
        return (self.granted is None or self.granted <= day) and day <= self.expires


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver] = Field(default_factory=list)


def load_waivers(path: Path, tenants: Iterable[str], controls: Iterable[str]) -> list[Waiver]:
    """The waivers in *path* (none when the file does not exist), checked against the configured
    tenants and the catalog's controls; a ConfigError names the file and the entry otherwise."""
    if not path.exists():
        return []
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    if raw is None:
        return []
    try:
        parsed = WaiverFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in first["loc"]).replace(".[", "[")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ConfigError(f"{path}: {where or '(top level)'}: {first['msg'].removeprefix('Value error, ')}{more}"
                          ) from exc
    known_tenants, known_controls = set(tenants), set(controls)
    seen: dict[tuple[str, str], int] = {}
    for i, w in enumerate(parsed.waivers):
        where = f"{path}: waivers[{i}]"
        if w.control not in known_controls:
            raise ConfigError(f"{where}.control: unknown control {w.control!r}")
        if w.tenant != ALL and w.tenant not in known_tenants:
            raise ConfigError(f"{where}.tenant: unknown tenant {w.tenant!r} (a configured tenant id, or {ALL!r})")
        if w.granted is not None and w.granted > w.expires:
            raise ConfigError(f"{where}: granted {w.granted} is after it expires ({w.expires})")
        key = (w.control, w.tenant)
        if key in seen:
            # Two waivers for the same thing: which one the document shows would be an accident.
            raise ConfigError(f"{where}: waivers[{seen[key]}] already waives {w.control} for {w.tenant!r}; "
                              "keep one (extend its expiry instead)")
        seen[key] = i
    return list(parsed.waivers)


def for_tenant(waivers: Sequence[Waiver], tenant_id: str) -> list[dict[str, Any]]:
    """What the tenant's configuration record holds: its own waivers and those for all."""
    return [w.model_dump(mode="json") for w in waivers if w.tenant in (tenant_id, ALL)]


def for_everyone(waivers: Sequence[Waiver]) -> list[dict[str, Any]]:
    """What the provider-wide record holds: only waivers for all tenants (a tenant's own would name it)."""
    return [w.model_dump(mode="json") for w in waivers if w.tenant == ALL]


# The result a waiver set aside, in the sentence that says so.
_WITHOUT = {"en": {"fail": "fail", "insufficient_evidence": "not assessed (insufficient evidence)"},
            "it": {"fail": "non superato", "insufficient_evidence": "non valutato (evidenze insufficienti)"}}


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def apply(result: Result, waivers: Sequence[Waiver], tenant_id: str, day: date) -> Result:
    """*result* as the waivers leave it on *day* (the as-of date in the provider's time zone)."""
    mine = sorted((w for w in waivers if w.concerns(result.control_id, tenant_id)),
                  key=lambda w: (w.tenant == ALL, w.expires))  # the tenant's own before one for all
    if not mine:
        return result
    active = next((w for w in mine if w.active_on(day)), None)
    notes = [_expired_note(w) for w in mine if w is not active and day > w.expires]
    if active is None or result.verdict in (Verdict.PASS, Verdict.NOT_APPLICABLE, Verdict.WAIVED):
        if active is not None:
            notes.append({"en": f"A waiver for this control (approved by {active.approver}, until {active.expires}) "
                                "exists but was not needed.",
                          "it": f"Esiste una deroga per questo controllo (approvata da {active.approver}, fino al "
                                f"{active.expires}), ma non è stata necessaria."})
        return result.model_copy(update={"facts": [*notes, *result.facts]}) if notes else result
    ref = WaiverRef(justification=active.justification, approver=active.approver, expires=active.expires,
                    granted=active.granted, reference=active.reference, for_all=active.tenant == ALL,
                    verdict_without=result.verdict, reason_without=result.reason)
    why = _sentence(active.justification)
    reason = {
        "en": f"Waived (accepted exception) until {active.expires}, approved by {active.approver}: {why} Without "
              f"the waiver the result would be: {_WITHOUT['en'][result.verdict.value]} — {result.reason['en']}",
        "it": f"Deroga accettata fino al {active.expires}, approvata da {active.approver}: {why} Senza la deroga "
              f"l'esito sarebbe: {_WITHOUT['it'][result.verdict.value]} — "
              f"{result.reason.get('it') or result.reason['en']}",
    }
    return result.model_copy(update={"verdict": Verdict.WAIVED, "reason": reason, "waiver": ref,
                                     "facts": [*notes, *result.facts]})


def _expired_note(w: Waiver) -> dict[str, str]:
    return {"en": f"A waiver for this control (approved by {w.approver}) expired on {w.expires}: it no longer "
                  "applies.",
            "it": f"Una deroga per questo controllo (approvata da {w.approver}) è scaduta il {w.expires}: non si "
                  "applica più."}
