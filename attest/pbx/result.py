"""What a PBX check says: a status, a severity and findings that cite file:line and the path.

A finding's text may name tenants. It is written once as a template with `{t0}`, `{t1}`… for the
tenants it involves, so the same finding can be shown to the provider (tenant names) and inside one
tenant's attestation, where that tenant is "this customer" and any other only "another tenant".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "not_evaluated"]
Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITY_ORDER: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")


def _fill(template: str, names: tuple[str, ...]) -> str:
    out = template
    for i, name in enumerate(names):
        out = out.replace("{t" + str(i) + "}", name)
    return out


@dataclass(frozen=True)
class Finding:
    template: str  # the message, with {t0}, {t1}… for the tenants involved
    file: str | None = None
    line: int | None = None
    path: tuple[str, ...] = ()  # the steps, each also a template
    tenants: tuple[str, ...] = ()  # {t0}, {t1}…; t0 is the tenant who can act, t1 the one exposed

    @property
    def message(self) -> str:
        return _fill(self.template, self.tenants)

    def steps(self) -> list[str]:
        return [_fill(s, self.tenants) for s in self.path]

    def involves(self, tenant: str) -> bool:
        return tenant in self.tenants

    def for_tenant(self, tenant: str, language: str = "en") -> tuple[str, list[str]]:
        """The message and steps as *tenant* may read them: other tenants are not named."""
        own = "this customer" if language == "en" else "questo cliente"
        other = "another tenant" if language == "en" else "un altro cliente"
        names = tuple(own if t == tenant else other for t in self.tenants)
        return _fill(self.template, names), [_fill(s, names) for s in self.path]

    def as_json(self) -> dict[str, Any]:
        return {"message": self.message, "file": self.file, "line": self.line, "path": self.steps(),
                "tenants": list(self.tenants)}


@dataclass
class CheckResult:
    id: str
    title: str
    status: Status
    severity: Severity
    summary: str  # one sentence for people: why this status
    findings: list[Finding] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status, "severity": self.severity,
                "summary": self.summary, "findings": [f.as_json() for f in self.findings]}

    def involving(self, tenant: str) -> list[Finding]:
        return [f for f in self.findings if f.involves(tenant)]
