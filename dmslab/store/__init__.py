"""The SQL store: SQLAlchemy Core tables, Alembic migrations, idempotent writes. Never imports pydicom.

The analysis layer reads dose metrics through :func:`metric_data` (columnar copy or row tables),
:func:`metric_values`, :func:`sql_summary`, :func:`exam_counts` and :func:`workload_counts`, with the
studies described by a :class:`Selection`: all SQL and all dialect-specific code stays in this package.
"""

from dmslab.store._aggregate import (
    DIMENSIONS,
    EQUIPMENT_DIMS,
    METRICS,
    Metric,
    MetricData,
    Selection,
    exam_counts,
    has_median_aggregate,
    metric_values,
    sql_summary,
    workload_counts,
)
from dmslab.store._columnar import fast_source, metric_data
from dmslab.store._migrate import migrate
from dmslab.store._store import Rejection, Store, WriteSummary
from dmslab.store.schema import metadata, table

__all__ = ["DIMENSIONS", "EQUIPMENT_DIMS", "METRICS", "Metric", "MetricData", "Rejection", "Selection", "Store",
           "WriteSummary", "exam_counts", "fast_source", "has_median_aggregate", "metadata", "metric_data",
           "metric_values", "migrate", "sql_summary", "table", "workload_counts"]
