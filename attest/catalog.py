"""The control catalog: YAML entries beside each duty's checks (DESIGN.md §5)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from datetime import timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from attest.errors import BadInput

if TYPE_CHECKING:
    from attest.config import TenantConfig
    from attest.engine import CheckContext, CheckOutcome

Duty = Literal["dedicated", "datacenter", "cluster_ha", "backups", "sla", "firewall", "lists", "isolation"]
CheckFn = Callable[["CheckContext", "TenantConfig", dict[str, Any]], "CheckOutcome"]

_AGE = re.compile(r"^(\d+)([mhd])$")


def parse_age(text: str) -> timedelta:
    m = _AGE.match(text)
    if not m:
        raise ValueError(f"not a duration like 30m, 36h or 7d: {text!r}")
    n, unit = int(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[unit]


class ControlEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Z]{2,5}-\d{2}$")
    title: dict[Literal["en", "it"], str]
    explanation: dict[Literal["en", "it"], str] = Field(default_factory=dict)
    duty: Duty
    severity: Literal["low", "medium", "high", "critical"] = "high"
    check: str
    params: dict[str, Any] = Field(default_factory=dict)
    max_evidence_age: str
    mappings: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("max_evidence_age")
    @classmethod
    def _age(cls, value: str) -> str:
        parse_age(value)
        return value

    @property
    def max_age(self) -> timedelta:
        return parse_age(self.max_evidence_age)


class Control:
    def __init__(self, entry: ControlEntry, fn: CheckFn) -> None:
        self.entry = entry
        self.fn = fn


# Duty modules, each a `<name>.py` with checks beside a `<name>.yaml` catalog.
DUTY_MODULES = ("dedicated", "datacenter", "cluster_ha", "backups", "firewall", "lists", "isolation", "sla")


def load_catalog() -> list[Control]:
    controls: list[Control] = []
    for name in DUTY_MODULES:
        module = importlib.import_module(f"attest.controls.{name}")
        text = resources.files("attest.controls").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
        try:
            entries = [ControlEntry.model_validate(e) for e in yaml.safe_load(text)]
        except (ValidationError, yaml.YAMLError, TypeError) as exc:
            raise BadInput(f"catalog attest/controls/{name}.yaml is invalid: {exc}") from exc
        for entry in entries:
            fn = getattr(module, entry.check, None)
            if not callable(fn):
                raise BadInput(f"catalog {name}.yaml: control {entry.id} names check {entry.check!r}, "
                               f"which attest/controls/{name}.py does not define")
            controls.append(Control(entry, fn))
    return sorted(controls, key=lambda c: c.entry.id)
