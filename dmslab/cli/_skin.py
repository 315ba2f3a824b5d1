"""``dmslab skin FILE...``: skin-dose map of projection RDSRs (PSD, where, areas over 2/3/5 Gy, method), printed.

Reads the files only (no store is opened or written); storing the map and ``study.peak_skin_dose_gy`` belong to
the derived-values table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dmslab.cli._common import EXIT_ERROR, EXIT_INCOMPLETE, EXIT_OK, Builder, SettingsFrom

__all__ = ["BUILDERS"]


def _summary(name: str, res: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"file": name, "status": res.status, "message": res.message,
                           "system": f"{res.manufacturer} / {res.model}", "profile": res.profile,
                           "profile_confidence": res.profile_confidence, "patient_position": res.position,
                           "events": len(res.events), "skipped": [f"{u}: {r}" for u, r in res.skipped]}
    r = res.result
    if r is not None:
        out.update(psd_gy=round(r.psd_gy, 6), psd_location=r.psd_location.text if r.psd_location else None,
                   area_above_cm2={f"{k:g} Gy": round(v, 1) for k, v in r.area_above_cm2.items()},
                   kap_fraction=None if r.kap_fraction is None else round(r.kap_fraction, 4),
                   events_missing_the_phantom=len(r.missed_events), map_shape=list(r.dose_map_gy.shape),
                   method={k: v for k, v in res.method.items() if k != "assumptions"},
                   assumptions=res.method.get("assumptions", []))
    return out


def _print(s: dict[str, Any]) -> None:
    print(f"{s['file']}: {s['status']} - {s['message']}")
    print(f"  system {s['system']}, geometry profile {s['profile']} ({s['profile_confidence']}), "
          f"position {s['patient_position']}, {s['events']} events")
    for line in s["skipped"]:
        print(f"  skipped {line}")
    if "psd_gy" in s:
        areas = ", ".join(f"> {k}: {v:g} cm2" for k, v in s["area_above_cm2"].items())
        print(f"  PSD {s['psd_gy']:.4g} Gy at {s['psd_location']}; {areas}")
        print(f"  fraction of KAP on the phantom {s['kap_fraction']}, events that missed it "
              f"{s['events_missing_the_phantom']}, map {s['map_shape'][0]} x {s['map_shape'][1]} cells")
        m = s["method"]
        print(f"  method {m['method']} {m['method_version']} (dmslab {m['dmslab_version']}), {m['phantom']}")
        for a in s["assumptions"]:
            print(f"  assumption: {a}")


def _cmd_skin(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    import pydicom

    from dmslab.ingest.rdsr import is_xray_dose_report, read_tree
    from dmslab.skindose import Patient, StudyOptions, study_skin_dose

    options = StudyOptions(phantom=args.phantom, cell_cm=args.cell_cm, allow_default=args.allow_default)
    worst = EXIT_OK
    for path in args.files:
        try:
            ds = pydicom.dcmread(path)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            print(f"{path}: cannot read: {exc}")
            worst = EXIT_ERROR
            continue
        if not is_xray_dose_report(ds):
            print(f"{path}: not an X-ray radiation dose SR")
            worst = max(worst, EXIT_INCOMPLETE)
            continue
        res = study_skin_dose(read_tree(ds), ds.get("Manufacturer"), ds.get("ManufacturerModelName"),
                              Patient(args.height_cm, args.mass_kg), options)
        s = _summary(Path(path).name, res)
        print(json.dumps(s)) if args.json else _print(s)
        if res.status != "ok":
            worst = max(worst, EXIT_INCOMPLETE)
    return worst


def _skin(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="projection RDSR files (XA/RF)")
    p.add_argument("--height-cm", type=float, help="patient height (default: ICRP 89 reference, stated)")
    p.add_argument("--mass-kg", type=float, help="patient mass (default: ICRP 89 reference, stated)")
    p.add_argument("--phantom", choices=("body", "flat"), default="body", help="body (default) or flat sheet")
    p.add_argument("--cell-cm", type=float, default=1.0, help="cell size, cm (default 1)")
    p.add_argument("--allow-default", action="store_true",
                   help="an unknown system gets the default geometry profile, labelled so (default: no result)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=_cmd_skin)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "skin": _skin,
}
