"""Figures of docs/skindose.md: unrolled skin-dose maps of corpus RDSRs (run by hand; needs altair, vl-convert).

Usage::

    python bench/skindose_figures.py [CORPUS_DIR]     # writes docs/figures/skindose_*.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import pydicom
import vl_convert as vlc

from dmslab.ingest.rdsr import read_tree
from dmslab.skindose import Patient, StudyOptions, study_skin_dose

alt.data_transformers.disable_max_rows()
OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"


def figure(path: Path, title: str, patient: Patient, phantom: str = "body") -> Path:
    ds = pydicom.dcmread(path)
    res = study_skin_dose(read_tree(ds), ds.get("Manufacturer"), ds.get("ManufacturerModelName"), patient,
                          StudyOptions(phantom=phantom))
    assert res.result is not None, res.message
    m = res.result.dose_map_gy * 1000
    shift = np.zeros(m.shape[0], dtype=int)
    for r in range(m.shape[0]):  # each ring turned half a turn within its own columns: the back in the middle
        band = np.flatnonzero(~np.isnan(m[r]))
        shift[r] = len(band) // 2
        m[r, band] = np.roll(m[r, band], shift[r])
    rows, cols = np.nonzero(~np.isnan(m))
    df = pd.DataFrame({"row": rows, "col": cols, "mGy": m[rows, cols]})
    loc = res.result.psd_location
    chart = alt.Chart(df, title=alt.Title(title, subtitle=[
        f"PSD {res.result.psd_gy * 1000:.2f} mGy: {loc.text if loc else '-'}",
        f"profile {res.profile} ({res.profile_confidence}); rows head to feet; the back in the middle, the "
        "patient's left to its right"])).mark_rect(strokeWidth=0).encode(
        x=alt.X("col:O", axis=None), y=alt.Y("row:O", axis=None),
        color=alt.Color("mGy:Q", scale=alt.Scale(scheme="inferno")))
    if loc is not None:
        band = np.flatnonzero(~np.isnan(m[loc.row]))
        col = band[(int(np.searchsorted(band, loc.col)) + shift[loc.row]) % len(band)]
        chart += alt.Chart(pd.DataFrame({"row": [loc.row], "col": [col]})).mark_point(
            shape="cross", size=200, color="cyan", strokeWidth=2).encode(x="col:O", y="row:O")
    out = OUT / f"skindose_{path.stem}.png"
    spec = chart.properties(width=330, height=560).configure_view(strokeWidth=0).to_json()
    out.write_bytes(vlc.vegalite_to_png(spec, scale=1))
    return out


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "corpus"
    files = corpus / "openrem"
    OUT.mkdir(parents=True, exist_ok=True)
    print(figure(files / "RF-RDSR-Siemens-Zee.dcm", "Siemens AXIOM-Artis (corpus), 178.6 cm / 73.2 kg",
                 Patient(178.6, 73.2)))
    print(figure(files / "RF-RDSR-Canon-Alphenix-rotational.dcm", "Canon Alphenix with a rotational run (corpus)",
                 Patient(179.0, 77.0)))


if __name__ == "__main__":
    main()
