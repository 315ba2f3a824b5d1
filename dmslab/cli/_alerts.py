"""``dmslab alerts run|list|ack``: raise dose alerts (each once), e-mail them, list and acknowledge them."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from dmslab.cli._common import Builder, SettingsFrom

if TYPE_CHECKING:
    from dmslab.analysis.alerts import AlertConfig

__all__ = ["BUILDERS"]

_LIST_COLUMNS = ["id", "raised_at", "rule_id", "room", "protocol", "value", "level", "unit", "notified_at",
                 "acknowledged_by"]


def _config_from(args: argparse.Namespace, home: Path) -> AlertConfig:
    from dmslab.analysis.alerts import default_alert_config, load_alert_config

    path = args.rules or os.environ.get("DMSLAB_ALERT_RULES") or (home / "alert_rules.toml")
    if args.rules or Path(path).is_file():
        return load_alert_config(path)
    env = os.environ.get("DMSLAB_ALERT_RECIPIENTS", "")
    return default_alert_config({"default": tuple(a.strip() for a in env.split(",") if a.strip())})


def _cmd_alerts(args: argparse.Namespace, settings_from: SettingsFrom) -> int:
    from dmslab.analysis.alerts import acknowledge_alert, list_alerts, run_alerts
    from dmslab.store import Store

    settings = settings_from(args)
    store = Store(settings.database_url)
    try:
        if args.alerts_command == "run":
            smtp = None if args.no_email else settings.smtp
            result = run_alerts(store, _config_from(args, settings.home), smtp=smtp, since=args.since,
                                include_non_patient=args.include_non_patient)
            print("\n".join(result.lines()))
        elif args.alerts_command == "list":
            df = list_alerts(store, open_only=args.open)
            print(df[_LIST_COLUMNS].to_string(index=False) if len(df) else "(no alerts)")
        else:
            if args.id is None or not args.by:
                raise ValueError("usage: dmslab alerts ack ID --by NAME [--comment TEXT]")
            acknowledge_alert(store, args.id, by=args.by, comment=args.comment)
            print(f"alert {args.id} acknowledged by {args.by}")
    except ValueError as exc:
        print(f"dmslab alerts: error: {exc}")
        return 2
    finally:
        store.close()
    return 0


def _alerts(p: argparse.ArgumentParser) -> None:
    p.add_argument("alerts_command", choices=("run", "list", "ack"), metavar="{run,list,ack}",
                   help="run: raise new alerts (each once) and e-mail those not yet sent; list: stored alerts; "
                        "ack ID --by NAME: acknowledge an alert")
    p.add_argument("id", type=int, nargs="?", help="alert id (ack)")
    p.add_argument("--rules", help="run: TOML rules file (default $DMSLAB_ALERT_RULES, <home>/alert_rules.toml, "
                                   "else built-in rules with $DMSLAB_ALERT_RECIPIENTS)")
    p.add_argument("--since", help="run: only studies from this date/time (ISO)")
    p.add_argument("--no-email", action="store_true", help="run: store alerts without sending")
    p.add_argument("--include-non-patient", action="store_true",
                   help="run: also alert on QA and phantom studies (study.exclusion_reason; left out by default)")
    p.add_argument("--open", action="store_true", help="list: only alerts not yet acknowledged")
    p.add_argument("--by", help="ack: who acknowledges (name or role)")
    p.add_argument("--comment", help="ack: comment stored with the acknowledgement")
    p.set_defaults(func=_cmd_alerts)


#: What adds each command's arguments and handler to its subparser (the table of commands is dmslab.cli._app).
BUILDERS: dict[str, Builder] = {
    "alerts": _alerts,
}
