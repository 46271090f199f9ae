"""A list of chunk addresses bound as ONE query parameter, for ``address IN (...)`` over hundreds of addresses.

SQLAlchemy's expanding ``IN`` renders one parameter per value and re-processes the statement for every list: for
a save's 512 addresses that cost ~10 ms of Python per save, more than the query. Here the list goes as one value:
a JSON array read by ``json_each`` on SQLite, an array compared with ``= ANY`` on PostgreSQL; the statement is
compiled once per dialect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def among(column: sa.Column, dialect: str, name: str = "keys") -> sa.ColumnElement[bool]:
    """``column IN <the list bound as parameter name>`` for ``dialect`` ("sqlite" or "postgresql")."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.String())))
    return column.in_(sa.select(sa.literal_column("value")).select_from(sa.func.json_each(sa.bindparam(name))))


def bound(keys: Sequence[str], dialect: str) -> Any:
    """The parameter's value for ``among``."""
    return list(keys) if dialect == "postgresql" else json.dumps(list(keys))
