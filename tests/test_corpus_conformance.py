"""Conformance on the public vendor corpus (../shared/corpus): CT and projection RDSRs vs expected.json.

Every expected value of a quantity dmslab models is checked; the test prints how many files and values
were checked and which quantities are not modelled yet (issue 4 widens coverage).
"""

from __future__ import annotations

import json
import re

import pytest

from dmslab.ingest import parse_file
from dmslab.jobs import ingest_paths
from dmslab.store import Store

pytestmark = pytest.mark.requires_corpus

RDSR = re.compile(r"^(CT-RDSR|CT-ESR|DX-RDSR|Dual-RDSR|MG-RDSR|RF-|NM-CT-RDSR)")
EVENT = {  # expected quantity -> record field (event scope)
    "mean_ctdivol": "ctdivol_mgy", "dlp": "dlp_mgycm", "scanning_length": "scan_length_mm",
    "pitch_factor": "pitch", "nominal_total_collimation_width": "collimation_mm",
    "nominal_single_collimation_width": "single_collimation_mm", "number_of_xray_sources": "n_sources",
    "acquisition_protocol": "acquisition_protocol", "dose_area_product": "dap_gym2", "dose_rp": "rp_dose_gy",
    "average_glandular_dose": "agd_mgy", "entrance_exposure_at_rp": "esak_mgy", "compression_thickness": "compression_mm",
    "distance_source_to_detector": "dsd_mm", "collimated_field_area": "field_area_m2",
    "positioner_primary_angle": "primary_angle_deg", "exposure_index": "ei", "target_exposure_index": "tei",
    "deviation_index": "di", "number_of_pulses": "n_pulses", "half_value_layer": "hvl_mm",
}
PLANE = {"dose_area_product_total": "dap_total_gym2", "dose_rp_total": "rp_total_gy",
         "fluoro_dose_area_product_total": "fluoro_dap_gym2", "fluoro_dose_rp_total": "fluoro_rp_gy",
         "total_fluoro_time": "fluoro_time_s", "acquisition_dose_area_product_total": "acq_dap_gym2",
         "acquisition_dose_rp_total": "acq_rp_gy", "total_acquisition_time": "acq_time_s",
         "total_number_of_radiographic_frames": "n_frames"}
STUDY = {"ct_dose_length_product_total": "total_dlp_mgycm", "total_number_of_irradiation_events_reported":
         "n_events_reported"}
CT_TYPE = {"Constant Angle Acquisition": "constant_angle", "Spiral Acquisition": "spiral",
           "Sequenced Acquisition": "sequenced", "Stationary Acquisition": "stationary"}
SCOPE = re.compile(r"^(event|plane)\[(\d+)\]$")


@pytest.fixture(scope="module")
def expected(corpus):
    return json.loads((corpus / "expected.json").read_text())


def _same(got, want, approx):
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        return got is not None and got == pytest.approx(want, rel=1e-6 if approx else 1e-9, abs=1e-12)
    return got == want


def _target(report, quantity, scope):
    """(found, value) for an expected quantity at a scope, or (False, None) when dmslab does not model it."""
    events = list(report.ct_events or report.proj_events)
    m = SCOPE.match(scope)
    if scope == "study" and quantity in STUDY:
        return True, getattr(report.study, STUDY[quantity])
    if scope == "study" and quantity == "number_of_irradiation_events":
        return True, len(events)
    if m and m.group(1) == "event" and quantity == "ct_acquisition_type":
        return True, events[int(m.group(2))].acquisition_type if report.ct_events else None
    if m and m.group(1) == "event" and quantity in EVENT:
        return True, getattr(events[int(m.group(2))], EVENT[quantity])
    if m and m.group(1) == "plane" and quantity in PLANE:
        return True, getattr(report.planes[int(m.group(2))], PLANE[quantity])
    return False, None


def test_rdsr_values_match_expected(expected, corpus, pseudo, capsys):
    files = checked = 0
    not_modelled: dict[str, int] = {}
    failures = []
    for name, entry in sorted(expected["files"].items()):
        if not RDSR.match(name):
            continue
        outcome = parse_file(corpus / "openrem" / name, pseudo)
        assert outcome.report is not None, f"{name}: {outcome.reason}: {outcome.detail}"
        files += 1
        for v in entry["values"]:
            if v["scope"].split("[")[0] not in ("study", "event", "plane") or ".source" in v["scope"]:
                not_modelled[v["quantity"]] = not_modelled.get(v["quantity"], 0) + 1
                continue
            found, got = _target(outcome.report, v["quantity"], v["scope"])
            if not found:
                not_modelled[v["quantity"]] = not_modelled.get(v["quantity"], 0) + 1
                continue
            want = CT_TYPE.get(v["value"], v["value"]) if v["quantity"] == "ct_acquisition_type" else v["value"]
            checked += 1
            if not _same(got, want, v.get("approx", False)):
                failures.append(f"{name} {v['scope']} {v['quantity']}: got {got!r}, expected {want!r}")
    with capsys.disabled():
        print(f"\ncorpus conformance: {files} RDSR files, {checked} values checked, {checked - len(failures)} matched; "
              f"{sum(not_modelled.values())} values of {len(not_modelled)} quantities not modelled yet")
    assert files >= 25 and checked >= 500
    assert failures == []


def test_corpus_rejections_say_why(corpus, pseudo):
    assert parse_file(corpus / "openrem" / "ESR_non-dose.dcm", pseudo).reason == "not_a_dose_report"


@pytest.mark.parametrize(("files", "events", "total_dlp"), [
    (["CT-RDSR-Siemens-Multi-1.dcm", "CT-RDSR-Siemens-Multi-2.dcm", "CT-RDSR-Siemens-Multi-3.dcm",
      "CT-RDSR-Siemens-Multi-1.dcm"], 3, 236.09),
    # OpenREM keeps "Continued" RDSRs as two studies; dmslab merges them (issue 3): 60.17 + 56.44 mGy.cm
    (["CT-RDSR-Siemens-Continued-1.dcm", "CT-RDSR-Siemens-Continued-2.dcm", "CT-RDSR-Siemens-Continued-2.dcm"],
     4, 116.61),
])
def test_siemens_multi_and_continued_merge(corpus, settings, files, events, total_dlp):
    for f in files:
        ingest_paths([corpus / "openrem" / f], settings)
    store = Store(settings.database_url)
    study = store.read("select n_events, total_dlp_mgycm from study")
    assert len(study) == 1
    assert int(study["n_events"].iloc[0]) == events
    assert study["total_dlp_mgycm"].iloc[0] == pytest.approx(total_dlp, rel=1e-9)
    store.close()


def test_dual_dx_rf_same_device_one_equipment(corpus, settings):
    ingest_paths([corpus / "openrem" / "Dual-RDSR-RF.dcm", corpus / "openrem" / "Dual-RDSR-DX.dcm"], settings)
    store = Store(settings.database_url)
    assert store.counts()["equipment"] == 1
    modes = store.read("select modality from study order by modality")["modality"].tolist()
    assert modes == ["DX", "RF"]
    store.close()
