"""The check catalogue of the PBX isolation analysis (see docs/pbx-checks.md).

Each module holds the checks of one family and lists them in `CHECKS`; a check is a function of
the analysed PBX (`attest.pbx.facts.Pbx`) returning a `CheckResult`. Checks never raise on odd
configuration: the runner turns an exception into `not_evaluated` with the error, never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attest.pbx.result import CheckResult, Finding, Severity

if TYPE_CHECKING:
    from attest.pbx.facts import Pbx


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    severity: Severity
    fn: Callable[[Pbx, CheckSpec], CheckResult]

    def passed(self, summary: str, findings: Sequence[Finding] = ()) -> CheckResult:
        return CheckResult(self.id, self.title, "pass", self.severity, summary, list(findings))

    def failed(self, summary: str, findings: Sequence[Finding]) -> CheckResult:
        return CheckResult(self.id, self.title, "fail", self.severity, summary, list(findings))

    def not_evaluated(self, summary: str, findings: Sequence[Finding] = ()) -> CheckResult:
        return CheckResult(self.id, self.title, "not_evaluated", self.severity, summary, list(findings))


def check(id: str, title: str, severity: Severity, registry: list[CheckSpec]
          ) -> Callable[[Callable[[Pbx, CheckSpec], CheckResult]], Callable[[Pbx, CheckSpec], CheckResult]]:
    """Decorator: register *fn* as check *id* in the module's `CHECKS` list."""
    def wrap(fn: Callable[[Pbx, CheckSpec], CheckResult]) -> Callable[[Pbx, CheckSpec], CheckResult]:
        registry.append(CheckSpec(id, title, severity, fn))
        return fn
    return wrap
