"""One row per exam with the metrics protocol-change detection monitors, and the patient's size."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dmslab.store import Store, StudyFilter, exam_metrics

__all__ = ["CT_METRICS", "PROJ_METRICS", "SIZE_COLUMNS", "exam_series"]

#: CT metrics: name -> "continuous" (log-normal dose/technique value) or "categorical" (set technique value).
CT_METRICS = {"ctdivol_mgy": "continuous", "dlp_mgycm": "continuous", "ma": "continuous", "mas": "continuous",
              "kvp": "categorical", "pitch": "categorical", "collimation_mm": "categorical"}
#: Projection (DX, MG, RF) metrics per exam.
PROJ_METRICS = {"dap_gym2": "continuous", "agd_mgy": "continuous", "kvp": "categorical",
                "filter_material": "categorical"}
#: Patient-size columns of :func:`exam_series` (``dw_cm`` for CT only).
SIZE_COLUMNS = ("weight_kg", "height_m", "dw_cm")


# keyword-only options of one query, called by name from the notebooks
def exam_series(store: Store, *, modality: str = "CT", rooms: list[str] | None = None, start: Any = None,  # noqa: PLR0913
                end: Any = None, protocol_field: str = "study_description",
                include_non_patient: bool = False) -> pd.DataFrame:
    """One row per exam with the monitored metrics and the patient's size, ordered by room, protocol and time.

    Parameters
    ----------
    store
        The dmslab store.
    modality
        ``CT`` (metrics :data:`CT_METRICS`) or ``DX``/``MG``/``RF`` (:data:`PROJ_METRICS`).
    rooms
        Only these rooms (``equipment.room``, else station name); all when ``None``.
    start, end
        Only exams with ``start <= study_datetime < end`` (datetimes or ISO strings).
    protocol_field
        Study column naming the protocol: ``study_description``, ``standard_name`` or ``requested_procedure``.
    include_non_patient
        Also the studies that are not patient exams (``study.exclusion_reason``: QA, phantoms), which
        otherwise would look like protocol changes.

    Returns
    -------
    DataFrame
        ``study_id, study_datetime, room, protocol``, one column per metric (CTDIvol in mGy, DLP in
        mGy·cm, mA, effective mAs = mA × rotation time / pitch in mA·s, kVp in kV, collimation in mm,
        DAP in Gy·m², AGD in mGy) and the size: ``weight_kg``, ``height_m`` (Patient's Weight/Size) and, for
        CT, ``dw_cm`` (mean water-equivalent diameter of the dose-bearing events, when the scanner reports it).
    """
    where = StudyFilter(start=start, end=end, modality=modality, rooms=tuple(rooms) if rooms else None,
                        include_non_patient=include_non_patient)
    df = exam_metrics(store, where, protocol_field=protocol_field)
    df["study_datetime"] = pd.to_datetime(df["study_datetime"])
    for col in SIZE_COLUMNS:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df.sort_values(["room", "protocol", "study_datetime", "study_id"]).reset_index(drop=True)
