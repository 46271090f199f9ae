"""Migration 0009 refuses to go down while states are stored as chunks: the downgrade would drop them."""

from __future__ import annotations

import pytest
from alembic import command

from multiverse.metadata import alembic_config, head_revision, open_metadata, schema_revision
from multiverse.metadata.models import chunked_states


def test_a_downgrade_below_chunks_is_refused_while_chunked_states_exist(tmp_path):
    with open_metadata(f"sqlite:///{tmp_path / 'm.db'}") as meta:
        with meta.transaction(write=True) as conn:
            conn.execute(chunked_states.insert().values(id="ab" * 32, size=1, chunk_count=1, created_at=0.0,
                                                        manifest=b"x"))
        with pytest.raises(RuntimeError, match="stored as chunks"):
            with meta.engine.begin() as conn:
                config = alembic_config()
                config.attributes["connection"] = conn
                command.downgrade(config, "0008_token_scoring")
        assert schema_revision(meta.engine) == head_revision()  # nothing went down
        with meta.transaction() as conn:
            assert conn.execute(chunked_states.select()).first() is not None
