"""`attest pbx-check` output for people: verdicts grouped by severity, failures first, each
finding with its file:line and path."""

from __future__ import annotations

from attest.pbx.analysis import Analysis
from attest.pbx.result import SEVERITY_ORDER, CheckResult

MAX_FINDINGS = 5  # per check in the text report; --json lists them all
_MARK = {"fail": "FAIL", "pass": "pass", "not_evaluated": "n/e "}


def _check_lines(check: CheckResult, verbose: bool) -> list[str]:
    lines = [f"  {_MARK[check.status]}  {check.id:<8} {check.title}", f"        {check.summary}"]
    if check.status == "pass" and not verbose:
        return lines
    shown = check.findings[:MAX_FINDINGS]
    for f in shown:
        where = f" [{f.file}:{f.line}]" if f.file and f.line else f" [{f.file}]" if f.file else ""
        lines.append(f"        - {f.message}{where}")
        for i, step in enumerate(f.steps()):
            lines.append(f"            {'→' if i else ' '} {step}")
    if len(check.findings) > len(shown):
        lines.append(f"        … and {len(check.findings) - len(shown)} more finding(s) (--json lists them all)")
    return lines


def render_text(analysis: Analysis, verbose: bool = False) -> str:
    out = [f"PBX {analysis.instance}  ({analysis.origin})"]
    if analysis.inventory:
        names = ", ".join(f"{t['id']} ({t['endpoints']} endpoint(s))" for t in analysis.tenants) or "none present"
        out.append(f"Inventory {analysis.inventory}: tenants {names}")
    else:
        out.append("No tenant inventory: cross-tenant checks are not evaluated; their facts are listed.")
    for severity in SEVERITY_ORDER:
        checks = [c for c in analysis.checks if c.severity == severity]
        if not checks:
            continue
        out.append("")
        out.append(f"{severity.upper()}")
        order = {"fail": 0, "not_evaluated": 1, "pass": 2}
        for check in sorted(checks, key=lambda c: order[c.status]):
            out += _check_lines(check, verbose)
    counts = {s: sum(c.status == s for c in analysis.checks) for s in ("fail", "pass", "not_evaluated")}
    out.append("")
    out.append(f"{counts['fail']} failed, {counts['pass']} passed, {counts['not_evaluated']} not evaluated "
               f"({len(analysis.checks)} checks).")
    return "\n".join(out) + "\n"
