"""Effective dose: a reference-person estimate, always with its table, ICRP basis and uncertainty.

Effective dose compares practices; it is not the dose of this patient (ICRP; ../shared/reference/
effective_dose.md). Every value here is an :class:`~dmslab.analysis._estimate.Estimate` that names its table,
ICRP publication, region, age band and phantom, and says "reference person" in its assumptions. Estimates do
not add with ``+``: :func:`sum_effective_doses` is the one way, and it refuses mixed methods and, unless asked
explicitly, more than one patient.

CT (``E = k · DLP``): the k-factor tables are ``dmslab/data/ct_dlp_k_factors.csv`` (shipped: EUR 16262 as
reproduced in AAPM Report 96 Table 4, ICRP 60 tissue weights) or any CSV of the same columns given as ``path``
(e.g. a site's ICRP 103 table from Deak 2010 or Shrimpton 2016, whose numbers could not be retrieved for
shipping). Every table loaded gives its own value side by side (method ``dlp_k_<table>``). Before a k-factor
is applied the event's CTDIvol phantom is checked against the phantom the table row assumes: a mismatch gives
no value (``phantom_mismatch``); an unreported phantom is assumed to be the table's (``phantom_not_reported``).

Projection (``E = c · KAP``): ``dmslab/data/kap_e_coefficients.csv`` ships without rows, because no public,
sourced, machine-readable table was found; a site adds its rows (with their source) in a CSV given as ``path``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from dmslab.analysis._estimate import Estimate
from dmslab.analysis._regions import REGIONS, region_of
from dmslab.errors import ConfigError

__all__ = ["AGE_BANDS", "METHOD_VERSION", "REFERENCE_PERSON", "UNCERTAINTY", "age_band", "ct_effective_doses",
           "kap_effective_dose", "load_k_factors", "load_kap_coefficients", "study_effective_dose",
           "sum_effective_doses"]

METHOD_VERSION = "1"
AGE_BANDS = ("0", "1", "5", "10", "adult")
REFERENCE_PERSON = ("reference-person estimate (ICRP): for comparing practices, not this patient's dose; "
                    "sex, size and organ doses of this patient are not used")
#: From ../shared/reference/effective_dose.md §4.
UNCERTAINTY = ("reference-person quantity, show 2 significant figures: ICRP 60 vs 103 weights up to x2 head/neck, "
               "+-10 % trunk (Shrimpton 2016); body E/DLP +25 % from 80 to 140 kV (Huda 2008); c-spine ~x2 between "
               "software packages (Huda 2008); paediatric k 3-5x adult")
_K_COLUMNS = ("table", "icrp", "region", "age_band", "k_msv_per_mgycm", "phantom_cm", "phantom_note", "source",
              "edition")
_KAP_COLUMNS = ("table", "icrp", "modality", "region", "view", "k_msv_per_gycm2", "kvp_min", "kvp_max", "source",
                "edition")
_ICRP = ("ICRP 60", "ICRP 103")


def _read(path: str | Path | None, default: str, columns: Sequence[str]) -> pd.DataFrame:
    if path is None:
        with resources.files("dmslab.data").joinpath(default).open() as fh:
            df = pd.read_csv(fh, dtype={"age_band": str, "view": str})
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"coefficient table {p} not found")
        try:
            df = pd.read_csv(p, dtype={"age_band": str, "view": str})
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: not a CSV table: {exc}") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ConfigError(f"{path or default}: missing column(s) {missing}; needed: {list(columns)}")
    return df


def _check_k(df: pd.DataFrame, name: str) -> None:
    checks = [
        (~df["icrp"].isin(_ICRP), f"icrp must be one of {_ICRP}"),
        (~df["region"].isin(REGIONS), f"region must be one of {REGIONS}"),
        (~df["age_band"].isin(AGE_BANDS), f"age_band must be one of {AGE_BANDS}"),
        (~(pd.to_numeric(df["k_msv_per_mgycm"], errors="coerce") > 0), "k_msv_per_mgycm must be > 0"),
        (~pd.to_numeric(df["phantom_cm"], errors="coerce").isin([16, 32]), "phantom_cm must be 16 or 32"),
        (df["source"].fillna("").astype(str).str.strip() == "", "every row needs its source"),
        (df.duplicated(["table", "region", "age_band"]), "one row per table, region and age band"),
    ]
    for bad, message in checks:
        if bad.any():
            raise ConfigError(f"{name}: {message} (row(s) {[int(i) + 2 for i in df.index[bad][:5]]})")


@lru_cache(maxsize=8)
def load_k_factors(path: str | Path | None = None) -> pd.DataFrame:
    """The CT DLP -> E k-factor table (mSv/(mGy·cm)): the shipped one, or ``path`` (same columns).

    Raises
    ------
    ConfigError
        A missing file or column, or a row that is not valid (the message names it).
    """
    df = _read(path, "ct_dlp_k_factors.csv", _K_COLUMNS)
    _check_k(df, str(path or "ct_dlp_k_factors.csv"))
    return df


@lru_cache(maxsize=8)
def load_kap_coefficients(path: str | Path | None = None) -> pd.DataFrame:
    """The KAP -> E coefficient table (mSv/(Gy·cm²)): the shipped one (no rows: see the module docstring) or
    ``path``. ``region`` and ``view`` are ``SCHEME:VALUE`` codes (CID 4031 / 4010; view may be empty)."""
    df = _read(path, "kap_e_coefficients.csv", _KAP_COLUMNS)
    bad = ~(pd.to_numeric(df["k_msv_per_gycm2"], errors="coerce") > 0) | (df["source"].fillna("") == "")
    if bad.any():
        raise ConfigError(f"{path}: k_msv_per_gycm2 must be > 0 and every row needs its source "
                          f"(row(s) {[int(i) + 2 for i in df.index[bad][:5]]})")
    return df


def age_band(age_years: float | None) -> tuple[str, tuple[str, ...]]:
    """The table's age band of an age (<1 -> 0, 1-<5 -> 1, 5-<10 -> 5, 10-<18 -> 10, else adult) and flags
    (``age_unknown_adult_assumed``). The binning is the one of the public calculator the table comes from."""
    if age_years is None or not math.isfinite(age_years):
        return "adult", ("age_unknown_adult_assumed",)
    for limit, band in ((1, "0"), (5, "1"), (10, "5"), (18, "10")):
        if age_years < limit:
            return band, ()
    return "adult", ()


def _method(table: str) -> str:
    return f"dlp_k_{table.lower()}"


def _ct_one(dlp: float, region: Any, phantom_cm: int | None, band: str, band_flags: tuple[str, ...],
            rows: pd.DataFrame) -> Estimate:
    first = rows.iloc[0]
    table, icrp = str(first["table"]), str(first["icrp"])
    basis = f"{icrp} tissue weights; table {table} ({first['edition']})"
    inputs: dict[str, Any] = {"dlp_mgycm": dlp, "phantom_cm": phantom_cm, "age_band": band,
                              "region_code": None if region is None else region.code}

    def refused(flag: str, reason: str) -> Estimate:
        return Estimate("effective_dose_msv", None, _method(table), METHOD_VERSION, basis, inputs, (REFERENCE_PERSON,),
                        UNCERTAINTY, (*band_flags, flag), reason)

    if region is None:
        return refused("region_unknown", "Target Region code not mapped to a k-factor region (dmslab/data/"
                                         "ct_regions.csv)")
    row = rows[(rows["region"] == region.region) & (rows["age_band"] == band)]
    if row.empty:
        return refused("no_coefficient", f"table {table} has no k for {region.region}, age band {band}")
    r = row.iloc[0]
    need = int(r["phantom_cm"])
    flags, assumptions = list(band_flags), [REFERENCE_PERSON, f"k for region {region.region}, age band {band}"]
    if region.approximation:
        flags.append("region_approximated")
        assumptions.append(region.approximation)
    if phantom_cm is None:
        flags.append("phantom_not_reported")
        assumptions.append(f"CTDIvol phantom not reported: assumed {need} cm as the table requires")
    elif phantom_cm != need:
        return refused("phantom_mismatch", f"DLP referenced to the {phantom_cm} cm phantom, the k-factor assumes "
                                           f"{need} cm ({r['phantom_note']})")
    k = float(r["k_msv_per_mgycm"])
    inputs.update(k_msv_per_mgycm=k, region=region.region, table_source=str(r["source"]))
    return Estimate("effective_dose_msv", k * dlp, _method(table), METHOD_VERSION, basis, inputs, tuple(assumptions),
                    UNCERTAINTY, tuple(flags))


def ct_effective_doses(dlp_mgycm: float, *, region_code: str | None, phantom_cm: int | None,
                       age_years: float | None, path: str | Path | None = None) -> list[Estimate]:
    """E = k · DLP of one CT event, one estimate per k-factor table (ICRP 60 and, when loaded, ICRP 103).

    Parameters
    ----------
    dlp_mgycm
        DLP of the event in mGy·cm.
    region_code
        Target Region as ``SCHEME:VALUE`` (e.g. ``SCT:51185008`` chest).
    phantom_cm
        The CTDIvol phantom of the event (16 or 32; ``None`` if not reported).
    age_years
        Patient age at the study (``None``: adult assumed, flagged).
    path
        A k-factor CSV instead of the shipped one.

    Examples
    --------
    >>> [e] = ct_effective_doses(500.0, region_code="SCT:51185008", phantom_cm=32, age_years=50)
    >>> round(e.value, 2), e.method, e.basis.split(";")[0]
    (7.0, 'dlp_k_eur16262_aapm96', 'ICRP 60 tissue weights')
    """
    if not (isinstance(dlp_mgycm, int | float) and math.isfinite(dlp_mgycm) and dlp_mgycm >= 0):
        raise ValueError(f"dlp_mgycm must be a number >= 0 in mGy.cm, got {dlp_mgycm!r}")
    table = load_k_factors(path)
    band, band_flags = age_band(age_years)
    region = region_of(region_code)
    return [_ct_one(float(dlp_mgycm), region, phantom_cm, band, band_flags, rows)
            for _name, rows in table.groupby("table", sort=True)]


def kap_effective_dose(kap_gym2: float, *, modality: str, region_code: str | None, view_code: str | None = None,
                       path: str | Path | None = None) -> Estimate:
    """E = c · KAP of a projection study or event (KAP in Gy·m², as stored; the coefficients are per Gy·cm²).

    Refused (``no_coefficient``) when the table has no row for the modality, region and view; the shipped table
    has none (see the module docstring).
    """
    if not (isinstance(kap_gym2, int | float) and math.isfinite(kap_gym2) and kap_gym2 >= 0):
        raise ValueError(f"kap_gym2 must be a number >= 0 in Gy.m2, got {kap_gym2!r}")
    df = load_kap_coefficients(path)
    rows = df[(df["modality"] == modality) & (df["region"] == (region_code or ""))]
    if view_code:
        rows = rows[rows["view"].fillna("").isin([view_code, ""])]
    inputs = {"kap_gycm2": kap_gym2 * 1e4, "modality": modality, "region_code": region_code, "view_code": view_code}
    if rows.empty:
        return Estimate("effective_dose_msv", None, "kap_c", METHOD_VERSION, "no coefficient table row", inputs,
                        (REFERENCE_PERSON,), UNCERTAINTY, ("no_coefficient",),
                        f"no KAP->E coefficient for {modality} {region_code} {view_code or ''} in "
                        f"{path or 'the shipped table (it has no rows)'}")
    r = rows.sort_values("view", na_position="last").iloc[0]
    c = float(r["k_msv_per_gycm2"])
    inputs.update(k_msv_per_gycm2=c, table_source=str(r["source"]))
    return Estimate("effective_dose_msv", c * kap_gym2 * 1e4, f"kap_c_{str(r['table']).lower()}", METHOD_VERSION,
                    f"{r['icrp']} tissue weights; table {r['table']} ({r['edition']})", inputs,
                    (REFERENCE_PERSON, "coefficient for the examination as a whole, not this patient's beam geometry"),
                    UNCERTAINTY, ())


def study_effective_dose(events: Sequence[tuple[Mapping[str, Any], Estimate]]) -> Estimate:
    """The study's E of one method: the sum over its events. ``events`` pairs each event row (``event_uid``,
    ``acquisition_type``) with its estimate of that method. Refused when a non-localizer event has no value;
    a refused localizer is left out and named in the assumptions."""
    if not events:
        raise ValueError("no events")
    methods = {e.method for _, e in events}
    if len(methods) != 1:
        raise ValueError(f"one method per study total, got {sorted(methods)}")
    first = events[0][1]
    missing = [(r, e) for r, e in events if e.value is None]
    core = [(r, e) for r, e in missing if r.get("acquisition_type") != "constant_angle"]
    left_out = [f"localizer {r.get('event_uid')} not converted ({e.reason})" for r, e in missing if (r, e) not in core]
    flags = sorted({f for _, e in events for f in e.flags if e.value is not None})
    inputs = {"events": [{"event_uid": r.get("event_uid"), "e_msv": e.value, "flags": list(e.flags)}
                         for r, e in events]}
    if core:
        return Estimate("effective_dose_msv", None, first.method, METHOD_VERSION, first.basis, inputs,
                        (REFERENCE_PERSON,), UNCERTAINTY, ("incomplete_events",),
                        f"{len(core)} event(s) without effective dose: {core[0][1].reason}")
    total = sum(e.value for _, e in events if e.value is not None)
    return Estimate("effective_dose_msv", total, first.method, METHOD_VERSION, first.basis, inputs,
                    (REFERENCE_PERSON, "sum over the study's events", *left_out), UNCERTAINTY, tuple(flags))


def sum_effective_doses(items: Iterable[tuple[Hashable, Estimate]], *, across_patients: bool = False) -> Estimate:
    """The sum of effective doses of one method, each given with its patient key.

    Raises
    ------
    ValueError
        Mixed methods or versions, a value missing, or more than one patient without ``across_patients``
        (effective dose is a reference-person quantity; a collective sum must say so, and then does:
        flag ``summed_across_patients``).
    """
    pairs = list(items)
    if not pairs:
        raise ValueError("nothing to sum")
    methods = sorted({(e.method, e.method_version) for _, e in pairs})
    if len(methods) != 1:
        raise ValueError(f"effective doses of different methods cannot be summed: {methods}")
    if any(e.value is None for _, e in pairs):
        raise ValueError("a value is missing (refused estimate): sum only estimates that have one")
    patients = {p for p, _ in pairs}
    if len(patients) > 1 and not across_patients:
        raise ValueError(f"effective doses of {len(patients)} patients: pass across_patients=True to get a "
                         "collective (reference-person) sum, labelled as such")
    first = pairs[0][1]
    total = sum(float(e.value) for _, e in pairs if e.value is not None)
    flags = ("summed_across_patients",) if len(patients) > 1 else ()
    note = (f"sum of {len(pairs)} value(s) of {first.method} v{first.method_version} for {len(patients)} "
            f"patient(s)")
    return Estimate("effective_dose_msv", total, first.method, first.method_version, first.basis,
                    {"n_values": len(pairs), "n_patients": len(patients)}, (REFERENCE_PERSON, note),
                    first.uncertainty, flags)
