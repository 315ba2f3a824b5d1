"""Dose alerts: evaluate rules on the store, raise each alert once, explain it, e-mail it, acknowledge it.

Rules (absolute level, DRL × factor, local level, cumulative dose per pseudonymised patient over N weeks;
per modality, metric, room and standard name) come from a TOML file (:mod:`dmslab.analysis._alert_rules`).
An alert is identified by ``alert_key`` = rule id | study UID (cumulative: rule id | patient key | the study
that crossed the level), unique in table ``alert``: re-running raises and sends nothing twice. Alerts not yet
e-mailed (no recipients, SMTP down) are retried by the next run.

SMTP settings are the ``[smtp]`` section of the site's settings (:class:`dmslab.config.SmtpSettings`).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dmslab._mail import send_email
from dmslab.analysis._alert_rules import (
    ALL_MODALITIES,
    E_COLUMN,
    PSD_COLUMN,
    AlertConfig,
    AlertRule,
    default_alert_config,
    load_alert_config,
)
from dmslab.analysis.drl import drl_references, load_drls, map_ct_protocol
from dmslab.config import SmtpSettings
from dmslab.store import Store, StudyFilter, alert_metrics, alerts, mark_notified, raise_alerts, unsent_alerts
from dmslab.store import acknowledge_alert as _acknowledge

__all__ = ["AlertConfig", "AlertRule", "AlertRun", "acknowledge_alert", "default_alert_config",
           "evaluate_rules", "high_dose_cases", "list_alerts", "load_alert_config", "run_alerts", "study_metrics"]

logger = logging.getLogger(__name__)

_CANDIDATE = ["alert_key", "rule_id", "rule_kind", "modality", "room", "standard_name", "metric", "value", "level",
              "unit", "study_id", "patient_id", "study_uid", "study_datetime", "protocol", "explanation"]


@dataclass(slots=True)
class AlertRun:
    """What one run did: new alerts (DataFrame of :data:`_CANDIDATE` columns plus ``id``), e-mails sent."""

    new: pd.DataFrame
    notified: int = 0
    unsent: int = 0
    messages: int = 0

    def lines(self) -> list[str]:
        """A human-readable summary."""
        out = [f"{len(self.new)} new alert(s); {self.notified} e-mailed in {self.messages} message(s); "
               f"{self.unsent} not e-mailed (no SMTP or no recipients)"]
        out += [f"  [{r.id}] {r.explanation.splitlines()[0]}" for r in self.new.itertuples()]
        return out


def study_metrics(store: Store, modalities: list[str] | None = None, *,
                  include_non_patient: bool = False) -> pd.DataFrame:
    """One row per study with the alert metrics, room, protocol, patient key and size (store query).

    ``peak_skin_dose_gy`` comes from the study column of that name when the store has one; otherwise it is
    all missing (NaN), so peak-skin-dose rules raise nothing. ``effective_dose_msv`` is the study total of
    ``dmslab.analysis.cumulative.DEFAULT_E_METHOD`` stored by ``dmslab derive`` (NaN without one). Studies
    that are not patient exams (``study.exclusion_reason``: QA, phantoms) are left out unless
    ``include_non_patient``.
    """
    from dmslab.analysis.cumulative import study_effective_doses

    where = StudyFilter(include_non_patient=include_non_patient)
    modalities = None if modalities and ALL_MODALITIES in modalities else modalities
    df = alert_metrics(store, where, modalities=modalities, optional_columns=(PSD_COLUMN,))
    df["study_datetime"] = pd.to_datetime(df["study_datetime"])
    df[PSD_COLUMN] = pd.to_numeric(df[PSD_COLUMN], errors="coerce").astype(float)
    e = study_effective_doses(store, where)[["study_id", E_COLUMN]]
    return df.merge(e, on="study_id", how="left")


#: Alert metric -> metric name of ``dmslab.analysis.drl.drl_references``.
_DRL_METRIC = {"total_dlp_mgycm": "dlp_mgycm", "ctdivol_mgy": "ctdivol_mgy", "total_dap_gym2": "total_dap_gym2"}


def _by_name(refs: pd.DataFrame, metric: str) -> dict[str, float]:
    rows = refs[refs["metric"] == _DRL_METRIC.get(metric, metric)]
    return {str(n): float(v) for n, v in zip(rows["standard_name"], rows["drl"], strict=True)}


def _drl_levels(rule: AlertRule, df: pd.DataFrame) -> pd.Series:
    """factor × DRL per study: by standard name (``drl_references``), else for CT by the protocol's UK exam."""
    by_name = _by_name(drl_references(rule.country), rule.metric)
    named = df["standard_name"].map(lambda n: by_name.get(n, np.nan)).astype(float)
    if rule.modality == "CT":
        named = named.fillna(_ct_exam_levels(rule, df))
    return named * rule.factor


def _ct_exam_levels(rule: AlertRule, df: pd.DataFrame) -> pd.Series:
    drls = load_drls(rule.country)
    rows = drls[(drls["modality"] == rule.modality) & (drls["quantity"] == rule.drl_quantity)]
    if "patient_group" in rows:
        rows = rows[rows["patient_group"].fillna("adult") == "adult"]
    scale = {"Gy.cm2": 1e-4, "mGy.cm2": 1e-7, "cGy.cm2": 1e-6, "uGy.m2": 1e-6}
    by_exam = {e: float(v) * scale.get(u, 1.0) for e, v, u in zip(rows["examination"], rows["value"], rows["unit"],
                                                                   strict=True)}
    return df["study_description"].map(map_ct_protocol).map(lambda e: by_exam.get(e, np.nan)).astype(float)


def _scoped(rule: AlertRule, df: pd.DataFrame) -> pd.DataFrame:
    if rule.metric not in df.columns:  # e.g. no peak skin dose in these studies
        return df.iloc[:0].assign(**{rule.metric: pd.Series(dtype=float)})
    in_scope = df["modality"] == rule.modality if rule.modality != ALL_MODALITIES else df["modality"].notna()
    df = df[in_scope & df[rule.metric].notna()]
    if rule.rooms:
        df = df[df["room"].isin(rule.rooms)]
    if rule.standard_names:
        df = df[df["standard_name"].isin(rule.standard_names)]
    return df


def _cumulative(rule: AlertRule, df: pd.DataFrame) -> pd.DataFrame:
    """Studies at which a patient's sum over the trailing ``weeks`` first exceeds the level (then quiet for
    ``weeks`` after that study)."""
    window = pd.Timedelta(weeks=rule.weeks or 1)
    hits: list[pd.DataFrame] = []
    for _pid, g in df[df["patient_id"].notna()].sort_values("study_datetime").groupby("patient_id"):
        total = g.rolling(window, on="study_datetime")[rule.metric].sum()
        quiet_until = None
        for i, (when, value) in enumerate(zip(g["study_datetime"], total, strict=True)):
            if value > (rule.level or 0) and (quiet_until is None or when > quiet_until):
                hits.append(g.iloc[[i]].assign(_value=value))
                quiet_until = when + window
    return pd.concat(hits) if hits else df.iloc[:0].assign(_value=[])


def _levels(rule: AlertRule, df: pd.DataFrame, local: pd.DataFrame | None) -> pd.Series:
    if rule.kind == "drl":
        return _drl_levels(rule, df)
    if rule.kind == "local" and rule.level is None:  # the site's local DRL of the study's standard name
        by_name = _by_name(local if local is not None else pd.DataFrame(columns=["standard_name", "metric", "drl"]),
                           rule.metric)
        return df["standard_name"].map(lambda n: by_name.get(n, np.nan)).astype(float) * rule.factor
    return pd.Series((rule.level or 0) * (rule.factor if rule.kind == "local" else 1.0), index=df.index, dtype=float)


def evaluate_rules(config: AlertConfig, studies: pd.DataFrame, *, local_drls: pd.DataFrame | None = None
                   ) -> pd.DataFrame:
    """Every alert the rules give on ``studies`` (from :func:`study_metrics`), explained; nothing is stored.

    ``local_drls`` (``drl_references("local", store=...)``) gives the levels of ``local`` rules without a level.
    """
    from dmslab.analysis._alert_explain import explain

    out = []
    for rule in config.rules:
        df = _scoped(rule, studies)
        if rule.kind == "cumulative":
            hit = _cumulative(rule, df)
            level = pd.Series(rule.level, index=hit.index, dtype=float)
            keys = rule.id + "|" + hit["patient_key"].astype(str) + "|" + hit["study_uid"]
        else:
            value = df[rule.metric].astype(float)
            level = _levels(rule, df, local_drls)
            over = value > level
            # value[over], not value: pandas gives an empty frame the index of a Series assigned to it,
            # which turned "no study over the level" into one alert row of NaNs per study in scope
            hit = df[over].assign(_value=value[over])
            level = level[hit.index]
            keys = rule.id + "|" + hit["study_uid"]
        rows = pd.DataFrame({"alert_key": keys, "rule_id": rule.id, "rule_kind": rule.kind, "modality": rule.modality,
                             "room": hit["room"], "standard_name": hit["standard_name"], "metric": rule.metric,
                             "value": hit["_value"].astype(float), "level": level.astype(float), "unit": rule.unit,
                             "study_id": hit["study_id"], "patient_id": hit["patient_id"],
                             "study_uid": hit["study_uid"], "study_datetime": hit["study_datetime"],
                             "protocol": hit["study_description"]})
        rows["explanation"] = [explain(rule, r, studies) for r in rows.itertuples()]
        out.append(rows)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=_CANDIDATE)


def _notify(store: Store, config: AlertConfig, smtp: SmtpSettings | None, run: AlertRun) -> None:
    pending = unsent_alerts(store)
    run.unsent = len(pending)
    if smtp is None or not smtp.enabled or pending.empty:
        return
    for room, g in pending.groupby(pending["room"].fillna(""), sort=True):
        to = config.recipients_for(str(room))
        if not to:
            logger.warning("no alert recipients for room %r: %d alert(s) stay unsent", room, len(g))
            continue
        body = "\n\n".join(f"Alert {r.id} (study {r.study_uid}):\n{r.explanation}" for r in g.itertuples())
        subject = f"dmslab: {len(g)} new dose alert(s) in {room or 'unknown room'}"
        footer = "\n\nAcknowledge with: dmslab alerts ack ID --by NAME\n"
        try:
            send_email(smtp, to, subject, body + footer)
        except (smtplib.SMTPException, OSError) as exc:
            logger.error("could not e-mail %d alert(s) of %r: %s (retried next run)", len(g), room, exc)
            continue
        mark_notified(store, [int(i) for i in g["id"]], to, dt.datetime.now())
        run.notified += len(g)
        run.unsent -= len(g)
        run.messages += 1


def _local_drls(store: Store, config: AlertConfig) -> pd.DataFrame | None:
    if any(r.kind == "local" and r.level is None for r in config.rules):
        return drl_references("local", store=store)
    return None


def run_alerts(store: Store, config: AlertConfig | None = None, *, smtp: SmtpSettings | None = None,
               since: Any = None, now: dt.datetime | None = None, include_non_patient: bool = False) -> AlertRun:
    """Evaluate the rules, store new alerts once and e-mail every alert not yet sent.

    Parameters
    ----------
    store
        The dmslab store.
    config
        Rules and recipients; default :func:`~dmslab.analysis._alert_rules.default_alert_config`.
    smtp
        Mail server; ``None`` stores the alerts without sending (they are sent by a later run with SMTP).
    since
        Only raise alerts for studies at or after this datetime (cumulative sums still use older studies).
    now
        Time stamp of new alerts (default: now, local time).
    include_non_patient
        Also alert on studies that are not patient exams (``study.exclusion_reason``: QA, phantoms);
        by default they raise nothing.
    """
    cfg = config or default_alert_config()
    studies = study_metrics(store, sorted({r.modality for r in cfg.rules}), include_non_patient=include_non_patient)
    cand = evaluate_rules(cfg, studies, local_drls=_local_drls(store, cfg))
    if since is not None:
        cand = cand[cand["study_datetime"] >= pd.Timestamp(since)]
    run = AlertRun(raise_alerts(store, cand, now or dt.datetime.now()))
    _notify(store, cfg, smtp, run)
    logger.info("alerts: %d new, %d e-mailed, %d unsent", len(run.new), run.notified, run.unsent)
    return run


# keyword-only filters of one review query, called by name from the notebooks
def high_dose_cases(store: Store, config: AlertConfig | None = None, *, modality: str | None = None,  # noqa: PLR0913
                    start: Any = None, end: Any = None, rooms: list[str] | None = None,
                    include_non_patient: bool = False) -> pd.DataFrame:
    """Read-only review: the cases the rules flag in a period, with their stored alert and acknowledgement.

    Nothing is raised or sent. ``start`` (inclusive) and ``end`` (exclusive) are datetimes or ISO dates;
    ``modality`` and ``rooms`` narrow the rules and the studies; QA and phantom studies count only with
    ``include_non_patient``. Sorted by value / level, highest first.
    """
    cfg = config or default_alert_config()
    rules = tuple(r for r in cfg.rules if modality in (None, "", r.modality))
    sub = AlertConfig(rules, cfg.recipients)
    studies = study_metrics(store, sorted({r.modality for r in rules}), include_non_patient=include_non_patient)
    cand = evaluate_rules(sub, studies, local_drls=_local_drls(store, sub))
    if start:
        cand = cand[cand["study_datetime"] >= pd.Timestamp(start)]
    if end:
        cand = cand[cand["study_datetime"] < pd.Timestamp(end)]
    if rooms:
        cand = cand[cand["room"].isin(rooms)]
    stored = list_alerts(store)[["alert_key", "id", "raised_at", "acknowledged_by", "acknowledged_at"]]
    out = cand.merge(stored.rename(columns={"id": "alert_id"}), on="alert_key", how="left")
    out["times_level"] = out["value"] / out["level"]
    cols = ["study_uid", "study_datetime", "room", "protocol", "rule_id", "metric", "value", "level", "unit",
            "times_level", "explanation", "alert_id", "raised_at", "acknowledged_by", "acknowledged_at"]
    return out.sort_values("times_level", ascending=False)[cols].reset_index(drop=True)


def list_alerts(store: Store, *, open_only: bool = False) -> pd.DataFrame:
    """Stored alerts (newest first) with their study UID and date; ``open_only``: not yet acknowledged."""
    return alerts(store, open_only=open_only)


def acknowledge_alert(store: Store, alert_id: int, *, by: str, comment: str | None = None,
                      at: dt.datetime | None = None) -> None:
    """Record who acknowledged alert ``alert_id`` and when (ValueError if unknown or already acknowledged)."""
    if not by or not by.strip():
        raise ValueError("acknowledged_by must name a person or role")
    _acknowledge(store, alert_id, by=by.strip(), comment=comment, at=at or dt.datetime.now())
