"""Each node's task list since an instant, page after page: what the `tasks` (vzdump history) and
`events` (guest lifecycle) sections both read, with the artifact every task came in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collectors.proxmox.client import ApiError, Call
from collectors.proxmox.context import PveContext

TASKS = "/nodes/{node}/tasks"
# One page large enough for 400 days of hourly jobs; a full page is followed by the next one.
PAGE = 10000

Listing = tuple[list[tuple[dict[str, Any], str]], set[str]]  # (task, artifact it came in), all page artifacts


def task_lists(ctx: PveContext, since: int, typefilter: str | None = None,
               keep: Callable[[dict[str, Any]], bool] = lambda task: True) -> list[tuple[str, Listing | str]]:
    """Each node's tasks since *since* (optionally only *typefilter*'s) that *keep* accepts, with
    the artifact each came in and the artifacts of its task-list pages — or the error, by node.
    A node one of whose pages failed stays failed."""
    out: dict[str, Listing | str] = {}
    pending = {node: 0 for node in ctx.nodes}  # node -> next start offset
    base: dict[str, Any] = {"since": since, "limit": PAGE} | ({"typefilter": typefilter} if typefilter else {})
    while pending:
        calls = [Call(TASKS, {"node": n}, base | ({"start": start} if start else {}), key=n)
                 for n, start in pending.items()]
        more: dict[str, int] = {}
        for call, result in ctx.fetch_many(calls):
            node = str(call.key)
            if isinstance(result, ApiError) or not isinstance(result.data, list):
                out[node] = str(result) if isinstance(result, ApiError) else f"GET {result.shown}: expected a list"
                continue
            got = out.setdefault(node, ([], set()))
            if isinstance(got, str):
                continue
            artifact = ctx.artifact(result)
            got[1].add(artifact)
            got[0].extend((t, artifact) for t in result.data if isinstance(t, dict) and keep(t))
            if len(result.data) >= PAGE:
                more[node] = pending[node] + len(result.data)
        pending = more
    return sorted(out.items())
