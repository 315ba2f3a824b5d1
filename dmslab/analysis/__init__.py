"""Analysis: functions that take a store (or DataFrames) and return DataFrames / small result objects."""

from dmslab.analysis import alerts, changes, compare, cumulative, derive, effective_dose, naming, ssde, stats
from dmslab.analysis._estimate import Estimate
from dmslab.analysis.alerts import (
    acknowledge_alert,
    evaluate_rules,
    high_dose_cases,
    list_alerts,
    run_alerts,
    study_metrics,
)
from dmslab.analysis.changes import (
    ChangeConfig,
    SizeConfig,
    chart_frame,
    detect_changes,
    detect_series,
    exam_series,
    size_adjustments,
)
from dmslab.analysis.compare import Comparison, compare_exams, compare_groups
from dmslab.analysis.cumulative import cumulative_dose
from dmslab.analysis.derive import derive_ct
from dmslab.analysis.drl import (
    DRL_SETS,
    MIN_N,
    LocalDrl,
    audit_text,
    derive_local_drls,
    drl_audit,
    drl_references,
    load_drls,
    map_ct_protocol,
    patient_group_bounds,
    set_local_drl,
    study_exceedances,
)
from dmslab.analysis.naming import apply_names, classify, unmapped
from dmslab.analysis.stats import Filters, exam_counts, monthly_medians, summary, workload

__all__ = [
    "DRL_SETS",
    "MIN_N",
    "ChangeConfig",
    "Comparison",
    "Estimate",
    "Filters",
    "SizeConfig",
    "LocalDrl",
    "acknowledge_alert",
    "alerts",
    "apply_names",
    "audit_text",
    "changes",
    "chart_frame",
    "classify",
    "compare",
    "compare_exams",
    "compare_groups",
    "cumulative",
    "cumulative_dose",
    "derive",
    "derive_ct",
    "derive_local_drls",
    "detect_changes",
    "detect_series",
    "drl_audit",
    "drl_references",
    "effective_dose",
    "evaluate_rules",
    "exam_counts",
    "exam_series",
    "high_dose_cases",
    "list_alerts",
    "load_drls",
    "map_ct_protocol",
    "monthly_medians",
    "naming",
    "patient_group_bounds",
    "run_alerts",
    "set_local_drl",
    "size_adjustments",
    "ssde",
    "stats",
    "study_exceedances",
    "study_metrics",
    "summary",
    "unmapped",
    "workload",
]
