"""Re-sealing every encrypted column under the newest key (``ports.SealedColumns``).

The columns are found from the schema: those declared with
``Column(..., info=ENCRYPTED)`` in ``db_tables.py``; a new one needs nothing here.
Rows are read in primary-key order, a page at a time, each page re-sealed in one
transaction; a value changed meanwhile (a token refreshed by the fetcher) is left
as it was written, already under the newest key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Table, select, tuple_, update

from inboxhub.adapters.db import PLATFORM, SqlDirectory
from inboxhub.adapters.db_tables import metadata

PAGE = 500


def sealed_columns() -> list[tuple[Table, list[Column[Any]]]]:
    """Each table with encrypted columns, and those columns."""
    found = []
    for table in metadata.sorted_tables:
        columns = [c for c in table.c if c.info.get("encrypted")]
        if columns:
            found.append((table, columns))
    return found


class SqlSealedColumns:
    def __init__(self, directory: SqlDirectory) -> None:
        self._db = directory

    async def reseal(self, reseal: Callable[[bytes], bytes]) -> dict[str, int]:
        done: dict[str, int] = {}
        for table, columns in sealed_columns():
            for column in columns:
                done[f"{table.name}.{column.name}"] = await self._reseal(table, column, reseal)
        return done

    async def _reseal(
        self, table: Table, column: Column[Any], reseal: Callable[[bytes], bytes]
    ) -> int:
        key = list(table.primary_key.columns)
        after: tuple[Any, ...] | None = None
        count = 0
        while True:
            query = select(*key, column).where(column.is_not(None)).order_by(*key).limit(PAGE)
            if after is not None:
                query = query.where(tuple_(*key) > tuple_(*after))
            async with self._db.tx(PLATFORM) as conn:
                rows = (await conn.execute(query)).all()
                for row in rows:
                    old = row[-1]
                    new = _resealed(old, reseal)
                    where = [k == v for k, v in zip(key, row[:-1], strict=True)]
                    changed = await conn.execute(
                        update(table).where(*where, column == old).values({column.name: new})
                    )
                    count += int(changed.rowcount or 0)
            if len(rows) < PAGE:
                return count
            after = tuple(rows[-1][:-1])


def _resealed(value: bytes | str, reseal: Callable[[bytes], bytes]) -> bytes | str:
    """Binary columns hold the token's bytes, text columns its ASCII."""
    if isinstance(value, str):
        return reseal(value.encode()).decode()
    return reseal(bytes(value))
