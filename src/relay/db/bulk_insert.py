"""Inserting many new rows at once — a backfill's pages — without SQLAlchemy's per-value work.

A Core ``insert()`` of a page (``insertmanyvalues``) builds each row's parameters anew and runs
every value through its type's processor: ~40 µs a row of relay's CPU, as much as the database
spends storing it. Here a row is a tuple of its columns in a fixed order; only the columns whose
type has a bind processor (datetimes) go through it — the dialect's own, so what is stored is
exactly what SQLAlchemy would store — and the rows go to the driver in as few statements as it
takes, as multi-row ``VALUES`` (on SQLite each statement of an FTS5 trigger flushes its pending
index, so a statement per row is ~3x slower; on PostgreSQL a statement per row, even pipelined,
costs the server more than the rows).
Statements go through the session's connection, so errors are SQLAlchemy's (``IntegrityError``
for a row another writer inserted first) and the transaction is the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

# Parameters of one statement: SQLite's bound (SQLITE_MAX_VARIABLE_NUMBER since 3.32) is the
# lower; PostgreSQL's protocol allows 32,767.
_MAX_PARAMETERS = 32_766
_MAX_ROWS = 500
_KEPT_STATEMENTS = 16
# The n-th (from 0) parameter's marker, by the driver's style: SQLite's ``?``, asyncpg's ``$1``.
_PLACEHOLDERS: dict[str, Callable[[int], str]] = {
    "qmark": lambda _n: "?",
    "numeric_dollar": lambda n: f"${n + 1}",
}


@dataclass(frozen=True)
class _Prepared:
    """What a dialect needs to insert rows: its parameter marker, the value processors by column
    position, and the statements made so far."""

    placeholder: Callable[[int], str]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    statements: dict[int, str] = field(default_factory=dict)  # by number of rows


@dataclass
class BulkInsert:
    """Inserts rows of ``columns`` (tuples, in that order) into ``table``."""

    table: Table
    columns: tuple[str, ...]
    _prepared: dict[str, _Prepared] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        missing = [name for name in self.columns if name not in self.table.c]
        if missing:
            raise ValueError(f"{self.table.name} has no columns {missing}")

    def _for(self, dialect: Dialect) -> _Prepared:
        prepared = self._prepared.get(dialect.name)
        if prepared is None:
            placeholder = _PLACEHOLDERS.get(dialect.paramstyle)
            if placeholder is None:  # SQLite's and asyncpg's are the drivers relay supports
                raise ValueError(f"no bulk insert for the {dialect.name} driver's parameters")
            processors = []
            for position, name in enumerate(self.columns):
                # the dialect's own conversion, as Core applies it
                process = self.table.c[name].type._cached_bind_processor(dialect)
                if process is not None:
                    processors.append((position, process))
            prepared = _Prepared(placeholder, tuple(processors))
            self._prepared[dialect.name] = prepared
        return prepared

    def _head(self, dialect: Dialect) -> str:
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in self.columns)
        return f"INSERT INTO {quote(self.table.name)} ({names}) VALUES "  # noqa: S608 — our names

    async def run(self, db: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in ``db``'s transaction."""
        if not rows:
            return
        connection = await db.connection()
        dialect = connection.dialect
        prepared = self._for(dialect)
        values = _processed(rows, prepared.processors) if prepared.processors else rows
        width = len(self.columns)
        placeholder = prepared.placeholder
        per = max(1, min(_MAX_ROWS, _MAX_PARAMETERS // width))
        for start in range(0, len(values), per):
            chunk = values[start : start + per]
            sql = prepared.statements.get(len(chunk))
            if sql is None:
                sql = self._head(dialect) + ", ".join(
                    "(" + ", ".join(placeholder(row * width + n) for n in range(width)) + ")"
                    for row in range(len(chunk))
                )
                if len(prepared.statements) < _KEPT_STATEMENTS:  # full chunks and a few tails
                    prepared.statements[len(chunk)] = sql
            await connection.exec_driver_sql(sql, tuple(v for row in chunk for v in row))


def _processed(
    rows: Sequence[tuple[Any, ...]], processors: tuple[tuple[int, Callable[[Any], Any]], ...]
) -> list[tuple[Any, ...]]:
    """``rows`` with their values converted; the same object repeated down a column (a page's
    ``indexed_at``) is converted once."""
    last: dict[int, tuple[Any, Any]] = {}  # by position: the last value and what it became
    converted = []
    for row in rows:
        values = list(row)
        for position, process in processors:
            value = values[position]
            if value is None:
                continue
            seen = last.get(position)
            if seen is not None and seen[0] is value:
                values[position] = seen[1]
            else:
                values[position] = process(value)
                last[position] = (value, values[position])
        converted.append(tuple(values))
    return converted
