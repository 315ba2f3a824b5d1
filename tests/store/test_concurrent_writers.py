"""Several ``ingest`` processes on one database at once (SQLite file and PostgreSQL): nothing lost, nothing twice.

Three real processes ingest the synthetic department split so that they collide everywhere: the studies of
one patient go to different processes (patient get-or-create), every process sees every room (equipment),
the partial and complete RDSRs of a study go to different processes (study merge), CT images of two
studies are spread over all three while their RDSR is in one (source precedence), and some files are
given to two processes (duplicates). Small batches make the transactions interleave. Whatever the
interleaving, the store must equal the ground truth: one study per exam with its events once and its
totals, one patient per patient, one equipment row per device, every object recorded once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _images import ct_images, write_all

from dmslab.store import Store

N_PROC, BATCH = 3, 3
TOTALS = ("total_dlp_mgycm", "total_dap_gym2", "total_rp_dose_gy", "agd_left_mgy", "agd_right_mgy")
CHILD = Path(__file__).with_name("_ingest_child.py")


def _spread(department, tmp_path):
    """Folders p0..p2 of files; returns (RDSR SOPs, image SOPs, number of files given to two processes)."""
    root, truth = department
    folders = [tmp_path / f"p{i}" for i in range(N_PROC)]
    for f in folders:
        f.mkdir()
    twice = 0
    for k, study in enumerate(truth.studies):
        for j, name in enumerate(study.files):
            data = (root / name).read_bytes()
            targets = {(k + j) % N_PROC} | ({(k + 1) % N_PROC} if k % 7 == 0 else set())
            twice += len(targets) - 1
            for t in targets:
                (folders[t] / Path(name).name).write_bytes(data)
    imaged = [s for s in truth.studies if s.modality == "CT" and len(s.files) == 1][:2]
    image_sops = []
    for study in imaged:
        for i, path in enumerate(write_all(ct_images(study), tmp_path / "images" / study.study_uid)):
            path.rename(folders[i % N_PROC] / path.name)
            image_sops.append(path.stem)
    rdsr_sops = [u for s in truth.studies for u in s.sop_instance_uids]
    return folders, rdsr_sops, image_sops, twice


def _run(settings, folders, tmp_path):
    go = tmp_path / "go"
    outs = [tmp_path / f"out{i}.json" for i in range(N_PROC)]
    procs = [subprocess.Popen([sys.executable, str(CHILD), str(settings.home), settings.database_url, str(folder),
                               str(go), str(out), str(BATCH)]) for folder, out in zip(folders, outs, strict=True)]
    deadline = time.monotonic() + 120  # liveness guard: the children import dmslab, then say they are ready
    while not all(Path(f"{o}.ready").exists() for o in outs) and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.05)
    go.touch()
    codes = [p.wait(timeout=240) for p in procs]
    results = [json.loads(o.read_text()) if o.exists() else {"error": "no output"} for o in outs]
    assert codes == [0] * N_PROC, results
    return results


def test_concurrent_ingests_equal_the_ground_truth(department, settings, tmp_path):
    _root, truth = department
    Store(settings.database_url).close()  # the schema exists before the writers start
    folders, rdsr_sops, image_sops, twice = _spread(department, tmp_path)
    results = _run(settings, folders, tmp_path)
    assert all(r["rejected"] == 0 for r in results), results
    assert sum(r["duplicate"] for r in results) == twice
    store = Store(settings.database_url)
    counts = store.counts()
    assert counts["study"] == len(truth.studies)
    assert counts["patient"] == len({s.patient_id for s in truth.studies})
    assert counts["ct_event"] + counts["proj_event"] == sum(len(s.events) for s in truth.studies)
    eq = store.read("select manufacturer, model, station_name, serial, device_observer_uid, count(*) as n "
                    "from equipment group by manufacturer, model, station_name, serial, device_observer_uid")
    assert set(eq["n"]) == {1}, eq  # no device created twice
    assert set(eq["station_name"]) >= {r.station_name for r in truth.rooms}
    rows = store.read(f"select study_uid, n_events, source_kind, {', '.join(TOTALS)} from study").set_index("study_uid")
    for s in truth.studies:
        row = rows.loc[s.study_uid]
        assert int(row["n_events"]) == len(s.events) and row["source_kind"] == "rdsr", s.study_uid
        expected = {k: getattr(s, k) for k in TOTALS if getattr(s, k) is not None}
        assert expected and {k: row[k] for k in expected} == pytest.approx(expected, rel=1e-9), s.study_uid
    so = store.read("select sop_instance_uid, status from source_object")
    status = so.groupby(["sop_instance_uid", "status"]).size()
    ingested = {sop for (sop, st), _n in status.items() if st == "ingested"}
    assert ingested == set(rdsr_sops) and all(status[(sop, "ingested")] == 1 for sop in rdsr_sops)
    assert {sop for (sop, st), n in status.items() if st == "superseded" and n == 1} == set(image_sops)
    assert len(so) == len(rdsr_sops) + len(image_sops) + twice
    store.close()
