"""Every fluoroscopy RDSR of the vendor corpus end to end; the Siemens Artis zee against openSkin's fixture."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from dmslab.ingest.rdsr import read_tree
from dmslab.skindose import Corrections, Patient, StudyOptions, study_skin_dose

pytestmark = pytest.mark.requires_corpus


def _fluoro_files(corpus: Path) -> list[tuple[str, dict[str, Any]]]:
    files = json.loads((corpus / "expected.json").read_text())["files"]
    return [(name, f) for name, f in sorted(files.items())
            if f["metadata"].get("sr_template") == "TID 10001" and name.startswith(("RF-", "XA-", "Dual-RDSR-RF"))]


@functools.lru_cache(maxsize=32)
def _parsed(path: Path) -> tuple[Any, str | None, str | None, Patient]:
    """Content tree, manufacturer, model and patient size of a file, read once per session."""
    ds = pydicom.dcmread(path)
    size, weight = ds.get("PatientSize"), ds.get("PatientWeight")
    patient = Patient(float(size) * 100 if size else None, float(weight) if weight else None)
    return read_tree(ds), ds.get("Manufacturer"), ds.get("ManufacturerModelName"), patient


def _run(corpus: Path, name: str, **opts: Any) -> Any:
    root, manufacturer, model, patient = _parsed(corpus / "openrem" / name)
    return study_skin_dose(root, manufacturer, model, patient, StudyOptions(**opts))


def test_corpus_has_fluoroscopy_rdsrs(corpus: Path) -> None:
    names = [n for n, _ in _fluoro_files(corpus)]
    assert "RF-RDSR-Siemens-Zee.dcm" in names and len(names) >= 6


def test_every_fluoroscopy_rdsr_runs_end_to_end(corpus: Path) -> None:
    for name, f in _fluoro_files(corpus):
        res = _run(corpus, name)
        assert res.status in ("ok", "geometry_unknown", "no_usable_events"), name
        assert len(res.events) == f["metadata"]["irradiation_events"], name
        if res.status == "geometry_unknown":
            assert res.result is None and "geometry unknown" in res.message
            res = _run(corpus, name, allow_default=True)
            assert res.profile and "default" in res.profile, name
        if res.status != "ok":
            assert res.skipped, name  # it says which events and why
            continue
        r = res.result
        assert math.isfinite(r.psd_gy) and r.psd_gy >= 0, name
        assert r.dose_map_gy.shape[0] > 50 and r.method["assumptions"], name
        if r.psd_gy > 0:
            assert r.psd_location is not None and r.area_above_cm2[2.0] >= 0
        assert len(r.missed_events) + len(res.skipped) <= len(res.events)


def test_numba_equals_numpy_twin_on_the_corpus(corpus: Path) -> None:
    for name, _ in _fluoro_files(corpus):
        a = _run(corpus, name, allow_default=True)
        if a.status != "ok":
            continue
        b = _run(corpus, name, allow_default=True, corrections=Corrections(backend="numpy"))
        np.testing.assert_allclose(a.result.dose_gy, b.result.dose_gy, rtol=1e-9, atol=1e-15, err_msg=name)


def _openskin(f: dict[str, Any], quantity: str) -> float:
    (v,) = [x["value"] for x in f["values"] if x["quantity"] == quantity and x["source"] == "openrem-test"]
    return float(v)


def test_siemens_zee_psd_within_20_percent_of_openskin(corpus: Path) -> None:
    """openSkin (OpenREM 1.0, skin map 0.9.0) on the same file, its reference 178.6 cm / 73.2 kg body: PSD
    1.717 mGy, fraction of DAP on the phantom 1.0; both tools map Table Lateral Position to the long axis."""
    f = dict(_fluoro_files(corpus))["RF-RDSR-Siemens-Zee.dcm"]
    root, manufacturer, model, _ = _parsed(corpus / "openrem" / "RF-RDSR-Siemens-Zee.dcm")
    res = study_skin_dose(root, manufacturer, model, Patient(178.6, 73.2))
    assert res.status == "ok" and res.profile == "siemens_artis"
    ref = _openskin(f, "skin_map.peak_skin_dose")
    assert res.result.psd_gy == pytest.approx(ref, rel=0.20)
    assert res.result.kap_fraction == pytest.approx(_openskin(f, "skin_map.fraction_DAP"), abs=0.05)


def test_canon_alphenix_fixed_angle_part_matches_openskin_the_rotational_run_is_the_difference(corpus: Path) -> None:
    """openSkin's fixture PSD (1.648 mGy, 179 cm / 77 kg) equals what the 48 fixed-angle events give; the 49th,
    a 210-degree rotational run with 11.1 of the study's 12.7 mGy Ka,r, is what openSkin's map leaves out (its
    rotational model needs frame counts; OpenREM issue 942). dmslab spreads it over 42 arcs of 5 degrees."""
    from dmslab import codes as c

    name = "RF-RDSR-Canon-Alphenix-rotational.dcm"
    f = dict(_fluoro_files(corpus))[name]
    root, manufacturer, model, _ = _parsed(corpus / "openrem" / name)
    events = root.children_of(c.IRRADIATION_EVENT)
    fixed = type(root)(root.concept, root.vt, children=[ch for ch in root.children if ch is not events[-1]])
    ref = _openskin(f, "skin_map.peak_skin_dose")
    without = study_skin_dose(fixed, manufacturer, model, Patient(179.0, 77.0))
    assert without.result.psd_gy == pytest.approx(ref, rel=0.20)
    full = study_skin_dose(root, manufacturer, model, Patient(179.0, 77.0))
    assert full.result.method["n_beams_after_arcs"] == 48 + 42
    assert full.result.psd_gy > 3 * ref  # the rotational run's dose is on the map
