"""The migrator job: bring the database schema and the broker topology up to date, then exit."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from services.migrator.migrations import load_migrations, migrate
from shared.broker import connect, declare_topology
from shared.config import Settings
from shared.db import SCHEMA_VERSION
from shared.errors import TaskqError
from shared.logs import setup_logging

logger = logging.getLogger(__name__)


async def main(settings: Settings) -> None:
    migrations = load_migrations()
    if migrations[-1].version != SCHEMA_VERSION:
        raise TaskqError(
            f"shared.db.SCHEMA_VERSION is {SCHEMA_VERSION} but the newest migration is "
            f"{migrations[-1].version:03d}"
        )
    applied = await asyncio.to_thread(migrate, settings.db_path, migrations)
    logger.info(
        "database ready",
        extra={"db_path": settings.db_path, "applied": len(applied), "version": SCHEMA_VERSION},
    )
    connection = await connect(settings, name="taskq-migrator")
    try:
        channel = await connection.channel()
        await declare_topology(channel, settings)
    finally:
        await connection.close()
    logger.info("broker topology declared", extra={"queue": settings.queue})


def run() -> None:
    """Console entry point: exit 0 when everything is in place, 1 with one clear line if not."""
    try:
        settings = Settings.from_env(os.environ)
    except TaskqError as exc:
        print(f"taskq-migrate: {exc}", file=sys.stderr)
        sys.exit(2)
    setup_logging("migrator", settings.log_level)
    try:
        asyncio.run(main(settings))
    except (TaskqError, OSError, ValueError) as exc:
        logger.error("migration failed: %s", exc)
        sys.exit(1)
    except Exception as exc:  # the broker refused the topology, say; still one clear line
        logger.error("migration failed: %s: %s", type(exc).__name__, exc)
        sys.exit(1)


if __name__ == "__main__":
    run()
