"""``dmslab synth`` (a synthetic department of RDSRs with ground truth) and ``dmslab demo`` (synthesise, send over
DICOM to a receiver on loopback, ingest, audit, write the report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dmslab.cli._analysis import cmd_audit
from dmslab.cli._common import Builder, SettingsFrom, require_extra
from dmslab.cli._site import cmd_init

if TYPE_CHECKING:
    from dmslab.config import Settings

__all__ = ["BUILDERS"]


def _cmd_synth(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from tqdm import tqdm

    from dmslab.synth import DepartmentConfig, generate_department

    cfg = DepartmentConfig(ct_rooms=args.ct_rooms, dx_rooms=args.dx_rooms, mg_rooms=args.mg_rooms,
                           rf_rooms=args.rf_rooms, months=args.months, seed=args.seed,
                           studies_per_room_per_day=args.studies_per_day)
    with tqdm(unit="file", desc="synth", disable=args.quiet or None, file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        truth = generate_department(args.out, cfg, progress=progress)
    n_files = sum(len(s.files) for s in truth.studies)
    print(f"wrote {n_files} dose reports of {len(truth.studies)} studies to {args.out} "
          f"(ground truth: {Path(args.out) / 'ground_truth.json'})")
    return 0


def _compare_with_truth(settings: Settings, synth_dir: Path) -> tuple[bool, str]:
    """Whether the store's ingested objects are exactly the synthesised ones (by SOP Instance UID), and one line
    saying so."""
    from dmslab.store import Store
    from dmslab.synth import GroundTruth

    truth = GroundTruth.from_json(synth_dir / "ground_truth.json")
    expected = {uid for s in truth.studies for uid in s.sop_instance_uids}
    store = Store(settings.database_url)
    try:
        rows = store.table("source_object")
    finally:
        store.close()
    ingested = rows.loc[rows["status"] == "ingested", "sop_instance_uid"]
    missing, extra = expected - set(ingested), set(ingested) - expected
    twice = int(ingested.duplicated().sum())
    if not (missing or extra or twice):
        return True, (f"check: the store holds exactly the {len(expected)} synthesised objects "
                      "(by SOP Instance UID, each ingested once)")
    first = sorted(missing)[:1] or sorted(extra)[:1]
    return False, (f"check FAILED: {len(expected)} synthesised, {ingested.nunique()} ingested: {len(missing)} "
                   f"missing, {len(extra)} not synthesised, {twice} ingested twice"
                   f"{f' (e.g. {first[0]})' if first else ''}")


def _cmd_demo(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    require_extra("notebooks", "dmslab demo (its HTML report)", "papermill", "nbconvert")  # before the long part
    home = Path(args.home or "demo-data")
    synth_dir = home / "synthetic-department"
    args.home = str(home)
    if not (synth_dir / "ground_truth.json").exists():
        args.out, args.seed = str(synth_dir), 20260105
        _cmd_synth(args, settings_from)
    cmd_init(args, settings_from)
    from dmslab.net import send_and_ingest_over_dicom

    # over DICOM: receiver on 127.0.0.1 (free port) -> inbox -> ingest worker; stopped once the inbox is drained
    print("sending the department over DICOM to a receiver on 127.0.0.1 ...", flush=True)
    summary = send_and_ingest_over_dicom(synth_dir, settings_from(args))
    for line in summary.lines():
        print(line)
    same, line = _compare_with_truth(settings_from(args), synth_dir)
    print(line)
    if not (summary.all_stored and same):
        print("dmslab: error: not every synthesised object was stored and ingested exactly once (see above)",
              file=sys.stderr)
        return 1
    print()
    rc = cmd_audit(args, settings_from)
    from dmslab.reporting import write_drl_report

    settings = settings_from(args)
    print("\nwriting the DRL audit report (papermill + nbconvert)...", flush=True)
    path = write_drl_report(settings, settings.home / "reports")
    print(f"DRL audit report: {path.resolve()}")
    from dmslab.cli._dashboard import dashboard_command

    print(f"\nopen the dashboards on the demo data:\n  {dashboard_command(home)}")
    return rc


def _department_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--months", type=int, default=3)
    p.add_argument("--ct-rooms", type=int, default=2)
    p.add_argument("--dx-rooms", type=int, default=1)
    p.add_argument("--mg-rooms", type=int, default=1)
    p.add_argument("--rf-rooms", type=int, default=1)


def _synth(p: argparse.ArgumentParser) -> None:
    p.add_argument("out")
    _department_options(p)
    p.add_argument("--seed", type=int, default=20260105)
    p.add_argument("--studies-per-day", type=float, default=6.0, help="CT studies per room per working day")
    p.set_defaults(func=_cmd_synth)


def _demo(p: argparse.ArgumentParser) -> None:
    _department_options(p)
    p.add_argument("--studies-per-day", type=float, default=6.0)
    p.add_argument("--min-n", "--min-studies", type=int, dest="min_n", default=None,
                   help="fewest values a median of the audit needs to be judged (default 10)")
    p.set_defaults(func=_cmd_demo)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "synth": _synth,
    "demo": _demo,
}
