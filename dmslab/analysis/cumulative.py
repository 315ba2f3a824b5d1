"""Cumulative dose per pseudonymised patient across modalities in a window: DLP, Ka,r, KAP, effective dose (one
method, named) and the highest peak skin dose.

What is summed and what is not:

* DLP (mGy·cm, CT), Ka,r at the reference point (Gy, RF/XA) and KAP (Gy·m², DX/RF/XA/MG) are summed per patient
  as reported: each is a quantity of the equipment's output, and their sums are what follow-up rules use
  (e.g. NCRP 168 for Ka,r).
* Effective dose is summed only within one method (default :data:`DEFAULT_E_METHOD`, ICRP 60 k-factors), from the
  study totals ``dmslab derive`` stored; ``e_studies`` / ``e_missing`` say how many studies had one and how many
  CT studies had none, and ``e_note`` names the method and says it is a reference-person estimate. A sum over
  *several* patients goes through :func:`dmslab.analysis.effective_dose.sum_effective_doses`, which refuses
  without ``across_patients=True``.
* Peak skin dose is not summed: skin doses of two procedures add only where their fields overlap, which needs the
  maps on one phantom (``dmslab.skindose``); the highest PSD of the window and the count of procedures with one
  are shown (``psd_note``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd

from dmslab.analysis.effective_dose import REFERENCE_PERSON
from dmslab.store import Store, StudyFilter, alert_metrics, derived_values

__all__ = ["COLUMNS", "DEFAULT_E_METHOD", "cumulative_dose", "study_effective_doses"]

#: The effective-dose method summed by default (the shipped ICRP 60 table).
DEFAULT_E_METHOD = "dlp_k_eur16262_aapm96"
#: Columns of :func:`cumulative_dose`.
COLUMNS = ("patient_id", "patient_key", "n_studies", "modalities", "first_study", "last_study", "dlp_mgycm",
           "kar_gy", "kap_gym2", "e_msv", "e_studies", "e_missing", "e_method", "e_note", "psd_max_gy", "psd_studies",
           "psd_note")
_PSD_NOTE = "highest peak skin dose of the window, not a sum (summing needs the maps on one phantom)"


def study_effective_doses(store: Store, where: StudyFilter = StudyFilter(), *,
                          method: str = DEFAULT_E_METHOD) -> pd.DataFrame:
    """Study-level effective doses of one method (``study_id``, ``effective_dose_msv``, ``e_method``, ``e_basis``,
    ``e_flags``); studies without a value of that method are absent."""
    dv = derived_values(store, where, quantities=["effective_dose_msv"], methods=[method], parse=False)
    dv = dv[dv["event_uid"].isna() & dv["value"].notna()]
    return pd.DataFrame({"study_id": dv["study_id"].astype(int), "effective_dose_msv": dv["value"].astype(float),
                         "e_method": dv["method"], "e_basis": dv["basis"], "e_flags": dv["flags"]})


def _window(store: Store, where: StudyFilter, window_days: int | None, end: dt.datetime | None) -> StudyFilter:
    if window_days is None:  # the window is the filter's own period
        return where if end is None else replace(where, end=end)
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    if end is None:
        latest = alert_metrics(store, where)["study_datetime"].max()
        end = (pd.Timestamp(latest).to_pydatetime() + dt.timedelta(seconds=1) if pd.notna(latest)
               else dt.datetime.now())
    return replace(where, start=end - dt.timedelta(days=window_days), end=end)


def _psd(store: Store, where: StudyFilter) -> pd.DataFrame:
    dv = derived_values(store, where, quantities=["peak_skin_dose_gy"], parse=False)
    dv = dv[dv["event_uid"].isna() & dv["value"].notna()]
    return dv.groupby("study_id")["value"].max().rename("psd_gy").reset_index()


def cumulative_dose(store: Store, *, window_days: int | None = 365, end: dt.datetime | None = None,
                    where: StudyFilter = StudyFilter(), e_method: str = DEFAULT_E_METHOD) -> pd.DataFrame:
    """Per pseudonymised patient: the dose of their studies in the ``window_days`` before ``end``.

    Parameters
    ----------
    store
        The dmslab store (read-only is enough).
    window_days
        Length of the window in days; ``None``: the period of ``where`` (e.g. a report's period).
    end
        End of the window (exclusive); default just after the latest study ``where`` selects.
    where
        Further study filter (rooms, patient group ...); its own start and end are replaced by the window
        unless ``window_days`` is ``None``.
    e_method
        The effective-dose method to sum (see ``dmslab derive``).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`, one row per patient with a study in the window, highest ``e_msv`` first (then DLP, Ka,r).
        ``e_msv`` is NaN when no study had an effective dose of ``e_method``.
    """
    win = _window(store, where, window_days, end)
    studies = alert_metrics(store, win)
    studies = studies[studies["patient_id"].notna()].copy()
    if studies.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    studies = studies.merge(study_effective_doses(store, win, method=e_method)[["study_id", "effective_dose_msv"]],
                            on="study_id", how="left").merge(_psd(store, win), on="study_id", how="left")
    studies["ct_without_e"] = (studies["modality"] == "CT") & studies["effective_dose_msv"].isna()
    g = studies.groupby("patient_id")
    out = pd.DataFrame({
        "patient_key": g["patient_key"].first(), "n_studies": g.size(),
        "modalities": g["modality"].agg(lambda m: ", ".join(sorted(set(m.dropna())))),
        "first_study": g["study_datetime"].min(), "last_study": g["study_datetime"].max(),
        "dlp_mgycm": g["total_dlp_mgycm"].sum(min_count=1), "kar_gy": g["total_rp_dose_gy"].sum(min_count=1),
        "kap_gym2": g["total_dap_gym2"].sum(min_count=1), "e_msv": g["effective_dose_msv"].sum(min_count=1),
        "e_studies": g["effective_dose_msv"].count(), "e_missing": g["ct_without_e"].sum(),
        "psd_max_gy": g["psd_gy"].max(), "psd_studies": g["psd_gy"].count(),
    }).reset_index()
    out["e_method"] = e_method
    out["e_note"] = [f"sum of {n} study value(s) of {e_method} for this patient"
                     + (f"; {m} CT stud(ies) without one" if m else "") + f"; {REFERENCE_PERSON}"
                     for n, m in zip(out["e_studies"], out["e_missing"], strict=True)]
    out["psd_note"] = _PSD_NOTE
    out = out.sort_values(["e_msv", "dlp_mgycm", "kar_gy"], ascending=False, na_position="last")
    return out[list(COLUMNS)].reset_index(drop=True)
