"""The SQL store: SQLAlchemy Core tables, Alembic migrations, idempotent writes, and the query API every other
layer reads and writes through (no SQL outside this package). Never imports pydicom."""

from dmslab.store._alerts import acknowledge_alert, alerts, mark_notified, raise_alerts, unsent_alerts
from dmslab.store._filters import PatientBand, StudyFilter, patient_band
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
from dmslab.store._studies import PROTOCOL_FIELDS, alert_metrics, exam_metrics, study_span
from dmslab.store._url import absolute_url, masked_url
from dmslab.store.schema import metadata, table  # TODO(issue 12): table goes when branches audit/drl land

__all__ = ["DATABASE_ERRORS", "PROTOCOL_FIELDS", "UNAVAILABLE_ERRORS", "NamedStudy", "PatientBand", "Rejection",
           "Store", "StudyFilter", "WriteSummary", "absolute_url", "acknowledge_alert", "alert_metrics", "alerts",
           "exam_metrics", "held_sop_instance_uids", "insert_pipeline_run", "mark_notified", "masked_url",
           "metadata", "migrate", "naming_rules", "patient_band", "pipeline_runs", "raise_alerts",
           "replace_naming_rules", "set_standard_names", "source_status_counts", "stored_study_features",
           "study_span", "table", "unmapped_local_names", "unsent_alerts", "update_pipeline_run"]
