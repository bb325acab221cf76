"""Single-row reads that every request makes (its session, the newest checkpoint), run on the
pooled DB-API connection directly.

The statements are SQLAlchemy Core, compiled once per engine for its dialect; running them
through `Connection.execute` costs a few tenths of a millisecond of Python a statement (events,
an explicit BEGIN, result processing), which for these two reads was a tenth of a page's cost.
On SQLite the connection is in autocommit mode, so a lone SELECT is its own transaction; on
PostgreSQL the pool rolls back the read transaction when the connection goes back.
"""

from __future__ import annotations

import threading
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


class RowReader:
    """One SELECT, compiled lazily per engine, answering its first row as a tuple (or None)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[int, tuple[Engine, str, tuple[str, ...] | None, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _for(self, engine: Engine) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        hit = self._compiled.get(id(engine))
        if hit is None or hit[0] is not engine:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=engine.dialect))
            # qmark/numeric styles take a tuple in the compiled order; named styles take a dict.
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            # The statement's own bound values (a LIMIT's, say), under those the caller passes.
            hit = (engine, str(compiled), order, dict(compiled.params))
            with self._lock:
                self._compiled[id(engine)] = hit
        return hit[1], hit[2], hit[3]

    def first(self, engine: Engine, **params: Any) -> tuple[Any, ...] | None:
        sql, order, defaults = self._for(engine)
        given = {**defaults, **params}
        args: Any = tuple(given[name] for name in order) if order is not None else given
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql, args)
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            conn.close()  # back to the pool
        return tuple(row) if row is not None else None
