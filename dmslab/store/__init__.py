"""The SQL store: SQLAlchemy Core tables, Alembic migrations, idempotent writes. Never imports pydicom."""

from dmslab.store._migrate import migrate
from dmslab.store._store import Rejection, Store, WriteSummary
from dmslab.store.schema import metadata, table

__all__ = ["Rejection", "Store", "WriteSummary", "metadata", "migrate", "table"]
