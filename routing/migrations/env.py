"""Alembic environment: runs on a connection handed in by routing.migrations.migrate()."""

from alembic import context
from sqlmodel import SQLModel

from referral_directory import models  # noqa: F401  (registers the directory tables)
from routing.cases import models as case_models  # noqa: F401  (and the service's own: one schema, one migration history)
from routing.chats import models as chat_models  # noqa: F401
from routing.telephony import records as call_records  # noqa: F401

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `routing.migrations.migrate()` or `tsunagu migrate`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode for ALTER
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
