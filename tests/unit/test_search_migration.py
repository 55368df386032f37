"""Migration 0005 on an index that already holds tracks: their search text is rewritten as words,
the full-text index is filled, and it goes down and up again — on real SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from relay.db.engine import alembic_config, create_engine, session_factory
from relay.db.track_filter import TrackFilter
from relay.db.tracks import TrackIndex
from relay.domain import PageRequest, TrackOrder

_OLD_ROW = """
INSERT INTO tracks (uri, artist_did, rkey, title, artist, album, audio_url, file_type,
  record_created_at, created_at, indexed_at, publish_state, publish_attempts, audio_host,
  title_key, artist_key, album_key, search_text, hidden)
VALUES (:uri, 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', :rkey, :title, 'Zoë', NULL,
  'https://cdn.example/a.mp3', 'mp3', '2026-01-01T00:00:00.000Z', '2026-01-01 00:00:00',
  '2026-01-01 00:00:00', 'PUBLISHED', 0, 'cdn.example', lower(:title), 'zoë', NULL,
  lower(:title) || '|zoë|', false)
"""


async def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = create_engine(url)
    config = alembic_config(url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    try:
        async with engine.begin() as conn:
            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def _titles(url: str, search: str) -> list[str]:
    engine = create_engine(url)
    try:
        page = await TrackIndex(session_factory(engine)).page(
            TrackFilter(search=search), TrackOrder(), PageRequest(first=10)
        )
        return sorted(row.title for row in page.rows)
    finally:
        await engine.dispose()


async def test_tracks_indexed_before_the_migration_are_found_after_it(database_url: str) -> None:
    await _migrate(database_url, "0004")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for i, title in enumerate(["Café Society", "Straße"]):
                uri = f"at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.relay.track/3k{i}"
                await conn.execute(text(_OLD_ROW), {"uri": uri, "rkey": f"3k{i}", "title": title})
    finally:
        await engine.dispose()

    await _migrate(database_url, "head")
    assert await _titles(database_url, "cafe soc") == ["Café Society"]
    assert await _titles(database_url, "zoe") == ["Café Society", "Straße"]
    assert await _titles(database_url, "strasse") == ["Straße"]

    await _migrate(database_url, "0004", down=True)
    await _migrate(database_url, "head")
    assert await _titles(database_url, "zoe") == ["Café Society", "Straße"]
