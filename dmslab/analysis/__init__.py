"""Analysis: functions that take a store and return DataFrames."""

from dmslab.analysis.drl import ct_audit, load_drls, map_ct_protocol

__all__ = ["ct_audit", "load_drls", "map_ct_protocol"]
from dmslab.analysis import naming, stats
from dmslab.analysis.drl import (
    DRL_SETS,
    LocalDrl,
    derive_local_drls,
    drl_audit,
    drl_references,
    patient_group_bounds,
    set_local_drl,
    study_exceedances,
)
from dmslab.analysis.naming import apply_names, classify, unmapped
from dmslab.analysis.stats import Filters, exam_counts, monthly_medians, summary, workload

__all__ += ["DRL_SETS", "Filters", "LocalDrl", "apply_names", "classify", "derive_local_drls", "drl_audit", "drl_references",
            "exam_counts", "monthly_medians", "naming", "patient_group_bounds", "set_local_drl", "stats",
            "study_exceedances", "summary", "unmapped", "workload"]
from dmslab.analysis import alerts, changes, compare  # noqa: E402
from dmslab.analysis.alerts import (  # noqa: E402
    acknowledge_alert,
    evaluate_rules,
    high_dose_cases,
    list_alerts,
    run_alerts,
    study_metrics,
)
from dmslab.analysis.changes import ChangeConfig, chart_frame, detect_changes, detect_series, exam_series  # noqa: E402
from dmslab.analysis.compare import Comparison, compare_exams, compare_groups  # noqa: E402

__all__ += ["ChangeConfig", "Comparison", "acknowledge_alert", "alerts", "changes", "chart_frame", "compare",
            "compare_exams", "compare_groups", "detect_changes", "detect_series", "evaluate_rules", "exam_series",
            "high_dose_cases", "list_alerts", "run_alerts", "study_metrics"]
