"""Alert rules and recipients: typed, validated, read from a TOML file the MPE keeps under version control.

Why a file and not a table: alert levels are configuration decided and signed off by the MPE, reviewed
and versioned like any other setting (same TOML format as ``dmslab.toml``); the *alerts* they raise are
data and live in the store (table ``alert``). Each alert records the rule id, value and level, so a later
rule change never rewrites history.

Example file::

    [[rule]]
    id = "rf-kar-5gy"
    kind = "absolute"            # absolute | drl | local | cumulative
    modality = "RF"
    metric = "total_rp_dose_gy"  # see METRICS
    level = 5.0                  # in the metric's unit
    description = "Fluoroscopy Ka,r above 5 Gy: substantial radiation dose level, skin follow-up"

    [[rule]]
    id = "ct-dlp-drl"
    kind = "drl"                 # level = factor x national DRL of the exam (dmslab.analysis.drl)
    modality = "CT"
    metric = "total_dlp_mgycm"
    factor = 1.0
    country = "UK"
    rooms = ["CT1", "CT2"]       # optional: only these rooms
    standard_names = []          # optional: only these standard names

    [[rule]]
    id = "e-100msv-5y"
    kind = "cumulative"          # per pseudonymised patient over weeks
    modality = "ALL"             # cumulative rules may sum every modality
    metric = "effective_dose_msv"  # reference-person estimate, one method (dmslab derive)
    level = 100.0
    weeks = 260

    [recipients]                 # room -> addresses; "default" for rooms not listed
    default = ["mpe@example.org"]
    RF1 = ["cathlab-lead@example.org"]
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmslab.errors import ConfigError

__all__ = ["ALL_MODALITIES", "E_COLUMN", "KINDS", "METRICS", "PSD_COLUMN", "AlertConfig", "AlertRule",
           "default_alert_config", "load_alert_config"]

#: Metrics an alert rule can test: study-level name -> canonical unit. ``ctdivol_mgy`` is the highest
#: CTDIvol of the study's dose-bearing CT events (the DRL quantity is per sequence). ``peak_skin_dose_gy``
#: (:data:`PSD_COLUMN`) is tested only on studies that have one: the store has no such column yet, and rules on
#: it raise nothing until a study column of that name exists (see ``dmslab.analysis.alerts.study_metrics``).
#: ``effective_dose_msv`` (:data:`E_COLUMN`) is a reference-person estimate of one named method.
METRICS = {"total_dlp_mgycm": "mGy.cm", "ctdivol_mgy": "mGy", "total_dap_gym2": "Gy.m2", "total_rp_dose_gy": "Gy",
           "fluoro_time_s": "s", "agd_left_mgy": "mGy", "agd_right_mgy": "mGy", "peak_skin_dose_gy": "Gy",
           "effective_dose_msv": "mSv"}
#: Study value of the effective dose (mSv): the study total of one method stored by ``dmslab derive``
#: (``dmslab.analysis.cumulative.DEFAULT_E_METHOD``); studies without one raise nothing.
E_COLUMN = "effective_dose_msv"
#: Study column of the peak skin dose (Gy), when the store has it.
PSD_COLUMN = "peak_skin_dose_gy"
#: Rule kinds: fixed level; factor x national DRL (by standard name, CT also by protocol); factor x local level
#: (given, else the site's local DRL); sum per patient over ``weeks``.
KINDS = ("absolute", "drl", "local", "cumulative")
_DRL_QUANTITY = {"total_dlp_mgycm": "DLP", "ctdivol_mgy": "CTDIvol", "total_dap_gym2": "DAP"}
_MODALITIES = ("CT", "DX", "MG", "RF", "NM")
#: Modality of a cumulative rule that sums a patient's studies of every modality.
ALL_MODALITIES = "ALL"


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alert rule (see the module docstring for the file form).

    Parameters
    ----------
    id
        Stable identifier; alerts are de-duplicated by rule id and study (or patient window).
    kind
        One of :data:`KINDS`.
    modality, metric
        Study modality and one of :data:`METRICS`.
    level
        Level in the metric's canonical unit (``absolute``, ``cumulative``; ``local``: when omitted, the
        site's local DRL of the study's standard name from table ``local_drl`` is used).
    factor
        Multiplier of the DRL (``drl``) or of ``level`` (``local``); default 1.
    country
        DRL table for ``drl`` rules (``dmslab.analysis.drl.load_drls``).
    weeks
        Window of ``cumulative`` rules in weeks.
    rooms, standard_names
        Restrict the rule to these rooms / standard names (empty: all).
    description
        What the rule is for (goes into the alert explanation).
    """

    id: str
    kind: str
    modality: str
    metric: str
    level: float | None = None
    factor: float = 1.0
    country: str = "UK"
    weeks: int | None = None
    rooms: tuple[str, ...] = ()
    standard_names: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not self.id or "|" in self.id:
            raise ConfigError(f"rule id must be non-empty without '|', got {self.id!r}")
        if self.kind not in KINDS:
            raise ConfigError(f"rule {self.id}: kind {self.kind!r} not in {KINDS}")
        if self.modality not in _MODALITIES and not (self.modality == ALL_MODALITIES and self.kind == "cumulative"):
            raise ConfigError(f"rule {self.id}: modality {self.modality!r} not in {_MODALITIES} "
                              f"({ALL_MODALITIES!r} only for cumulative rules)")
        if self.metric not in METRICS:
            raise ConfigError(f"rule {self.id}: metric {self.metric!r} not in {sorted(METRICS)}")
        if self.kind in ("absolute", "cumulative") and (self.level is None or self.level <= 0):
            raise ConfigError(f"rule {self.id}: kind {self.kind} needs a level > 0 in {METRICS[self.metric]}")
        if self.level is not None and self.level <= 0:
            raise ConfigError(f"rule {self.id}: level must be > 0, got {self.level}")
        if self.kind in ("drl", "local") and self.level is None and self.metric not in _DRL_QUANTITY:
            raise ConfigError(f"rule {self.id}: no DRL quantity for {self.metric}; allowed: {sorted(_DRL_QUANTITY)}")
        if self.factor <= 0:
            raise ConfigError(f"rule {self.id}: factor must be > 0, got {self.factor}")
        if self.kind == "cumulative" and (self.weeks is None or self.weeks < 1):
            raise ConfigError(f"rule {self.id}: cumulative rules need weeks >= 1")

    @property
    def unit(self) -> str:
        """Canonical unit of the metric."""
        return METRICS[self.metric]

    @property
    def drl_quantity(self) -> str | None:
        """The DRL table's quantity for this metric (``DLP``, ``CTDIvol``, ``DAP``)."""
        return _DRL_QUANTITY.get(self.metric)

    def describe(self) -> str:
        """One line: what the rule tests."""
        if self.kind == "drl":
            what = f"{self.factor:g} x {self.country} national DRL"
        elif self.kind == "local" and self.level is None:
            what = f"{self.factor:g} x the site's local DRL of the standard name"
        elif self.kind == "local":
            what = f"{self.factor:g} x local level {self.level:g} {self.unit}"
        elif self.kind == "cumulative":
            what = f"{self.level:g} {self.unit} summed per patient over {self.weeks} weeks"
        else:
            what = f"{self.level:g} {self.unit}"
        scope = "".join([f" in {', '.join(self.rooms)}" if self.rooms else "",
                         f" for {', '.join(self.standard_names)}" if self.standard_names else ""])
        return f"{self.id}: {self.modality} {self.metric} above {what}{scope}"


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Rules and e-mail recipients per room (``default`` for any other room)."""

    rules: tuple[AlertRule, ...]
    recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = [r.id for r in self.rules]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ConfigError(f"duplicate alert rule id(s) {dup}")

    def describe(self) -> list[str]:
        """One line per rule (for notebooks and the CLI)."""
        return [rule.describe() for rule in self.rules]

    def recipients_for(self, room: str | None) -> tuple[str, ...]:
        """Addresses for alerts of ``room``."""
        return tuple(self.recipients.get(room or "", self.recipients.get("default", ())))


def _rule(raw: Mapping[str, Any]) -> AlertRule:
    allowed = set(AlertRule.__dataclass_fields__)
    bad = set(raw) - allowed
    if bad:
        raise ConfigError(f"alert rule {raw.get('id')!r}: unknown key(s) {sorted(bad)}; allowed: {sorted(allowed)}")
    values = dict(raw)
    for key in ("rooms", "standard_names"):
        values[key] = tuple(str(v) for v in values.get(key, ()))
    try:
        return AlertRule(**values)
    except TypeError as exc:
        raise ConfigError(f"alert rule {raw.get('id')!r}: {exc}") from exc


def load_alert_config(path: str | Path) -> AlertConfig:
    """Read rules (``[[rule]]``) and recipients (``[recipients]``) from a TOML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"alert rules file {p} not found; write one (see dmslab.analysis.alerts) or omit --rules")
    with open(p, "rb") as fh:
        try:
            raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: {exc}") from exc
    bad = set(raw) - {"rule", "recipients"}
    if bad:
        raise ConfigError(f"{p}: unknown section(s) {sorted(bad)}; allowed: ['recipients', 'rule']")
    recipients = {str(k): tuple(str(a) for a in (v if isinstance(v, list) else [v]))
                  for k, v in raw.get("recipients", {}).items()}
    for room, addresses in recipients.items():
        for a in addresses:
            if "@" not in a:
                raise ConfigError(f"{p}: recipient {a!r} of {room!r} is not an e-mail address")
    return AlertConfig(tuple(_rule(r) for r in raw.get("rule", [])), recipients)


def default_alert_config(recipients: Mapping[str, tuple[str, ...]] | None = None) -> AlertConfig:
    """Built-in rules: fluoroscopy Ka,r 3 Gy and 5 Gy, KAP 500 Gy·cm², peak skin dose 3 Gy, CT DLP above the UK DRL.

    Trigger levels after NCRP Report 168 (substantial radiation dose levels: peak skin dose 3 Gy, Ka,r 5 Gy,
    P_KA 500 Gy·cm²) and the common first notification at Ka,r 3 Gy; DLP per examination above 1 × the
    national DRL. The peak-skin-dose rule raises alerts only for studies with a peak skin dose (none until
    the store keeps one).
    """
    rules = (
        AlertRule("rf-kar-3gy", "absolute", "RF", "total_rp_dose_gy", 3.0,
                  description="Fluoroscopy Ka,r above 3 Gy: review the case and consider skin follow-up"),
        AlertRule("rf-kar-5gy", "absolute", "RF", "total_rp_dose_gy", 5.0,
                  description="Fluoroscopy Ka,r above 5 Gy (NCRP 168 SRDL): patient skin follow-up"),
        AlertRule("rf-kap-500gycm2", "absolute", "RF", "total_dap_gym2", 0.05,
                  description="Fluoroscopy KAP above 500 Gy.cm2 (NCRP 168 SRDL)"),
        AlertRule("rf-psd-3gy", "absolute", "RF", PSD_COLUMN, 3.0,
                  description="Fluoroscopy peak skin dose above 3 Gy (NCRP 168 SRDL): patient skin follow-up"),
        AlertRule("ct-dlp-drl", "drl", "CT", "total_dlp_mgycm", factor=1.0, country="UK",
                  description="CT DLP per examination above the national DRL"),
    )
    return AlertConfig(rules, dict(recipients or {}))
