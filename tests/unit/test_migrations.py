"""Alembic's head and the SQLAlchemy tables describe the same schema, and every
revision can be undone."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from inboxhub.adapters.db import _alembic_config, migrate
from inboxhub.adapters.db_tables import metadata


async def test_head_matches_the_table_definitions(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await migrate(url)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_to_base_removes_every_table(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    config = _alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
