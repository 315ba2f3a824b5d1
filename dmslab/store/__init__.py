"""The SQL store: SQLAlchemy Core tables, Alembic migrations, idempotent writes, and the query API every other
layer reads and writes through (no SQL outside this package). Never imports pydicom.

The analysis layer reads dose metrics through :func:`metric_data` (columnar copy or row tables),
:func:`metric_values`, :func:`sql_summary`, :func:`exam_counts` and :func:`workload_counts`, with the
studies described by a :class:`StudyFilter`, the one typed filter of every query here (study rows, exams, alert
metrics, metric values, summaries, counts; ``Selection`` and ``dmslab.analysis.Filters`` are the same class).
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
from dmslab.store._alerts import acknowledge_alert, alerts, mark_notified, raise_alerts, unsent_alerts
from dmslab.store._columnar import fast_source, metric_data
from dmslab.store._dash_events import (
    CT_EVENT_COLUMNS,
    PROJ_EVENT_COLUMNS,
    exam_events,
    exam_ids,
    exam_uids,
    proj_event_totals,
)
from dmslab.store._dash_protocol import protocol_counts, protocol_exams
from dmslab.store._dash_size import SIZE_DOSE_PAIRS, size_dose
from dmslab.store._dash_workload import room_month_counts, room_workload_counts
from dmslab.store._derived import (
    UNIT_SUFFIXES,
    DerivedValue,
    ct_dose_events,
    delete_derived,
    derived_values,
    write_derived,
)
from dmslab.store._drl import local_drl_rows, replace_local_drl
from dmslab.store._equipment_history import TRACKED as TRACKED_DEVICE_ATTRIBUTES
from dmslab.store._equipment_history import device_changes, equipment_history
from dmslab.store._export import (
    EVENT_TABLES,
    IDENTIFIER_COLUMNS,
    ExportColumn,
    export_columns,
    export_count,
    export_rows,
)
from dmslab.store._filters import PatientBand, StudyFilter, patient_band, period_bound, room_expr
from dmslab.store._freshness import last_studies
from dmslab.store._migrate import migrate
from dmslab.store._naming import (
    NamedStudy,
    naming_rules,
    replace_naming_rules,
    set_standard_names,
    stored_study_features,
    unmapped_local_names,
)
from dmslab.store._runs import insert_pipeline_run, pipeline_runs, update_pipeline_run
from dmslab.store._sources import DATABASE_ERRORS, UNAVAILABLE_ERRORS, held_sop_instance_uids, source_status_counts
from dmslab.store._store import Rejection, Store, WriteSummary
from dmslab.store._studies import PROTOCOL_FIELDS, STUDY_COLUMNS, alert_metrics, exam_metrics, studies, study_span
from dmslab.store._url import absolute_url, masked_url
from dmslab.store.schema import metadata

__all__ = [
    "DATABASE_ERRORS", "DIMENSIONS", "DerivedValue", "EQUIPMENT_DIMS", "EVENT_TABLES", "ExportColumn",
    "IDENTIFIER_COLUMNS", "METRICS", "Metric", "MetricData", "NamedStudy", "PROTOCOL_FIELDS", "PatientBand",
    "Rejection", "STUDY_COLUMNS", "TRACKED_DEVICE_ATTRIBUTES", "Selection", "Store", "StudyFilter",
    "UNAVAILABLE_ERRORS", "UNIT_SUFFIXES", "WriteSummary", "absolute_url", "acknowledge_alert", "alert_metrics",
    "alerts", "ct_dose_events", "delete_derived", "derived_values", "device_changes", "equipment_history",
    "exam_counts", "exam_metrics", "export_columns", "export_count", "export_rows", "fast_source",
    "has_median_aggregate", "held_sop_instance_uids", "insert_pipeline_run", "last_studies", "local_drl_rows",
    "mark_notified", "masked_url", "metadata", "metric_data", "metric_values", "migrate", "naming_rules",
    "patient_band", "period_bound", "pipeline_runs", "raise_alerts", "replace_local_drl", "replace_naming_rules",
    "room_expr", "set_standard_names", "source_status_counts", "sql_summary", "stored_study_features", "studies",
    "study_span", "unmapped_local_names", "unsent_alerts", "update_pipeline_run", "workload_counts", "write_derived",
]
# the dashboards' queries (dmslab.dashboards)
__all__ += ["CT_EVENT_COLUMNS", "PROJ_EVENT_COLUMNS", "SIZE_DOSE_PAIRS", "exam_events", "exam_ids", "exam_uids",
            "proj_event_totals", "protocol_counts", "protocol_exams", "room_month_counts", "room_workload_counts",
            "size_dose"]
