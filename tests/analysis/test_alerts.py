"""Alerts on the synthetic department: exactly the injected cases, raised once, e-mailed, acknowledged."""

from __future__ import annotations

import datetime as dt
import email
import socket
from collections.abc import Iterator
from email.message import Message

import pandas as pd
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from dmslab.analysis import alerts
from dmslab.analysis._alert_explain import documentation_signs
from dmslab.analysis._alert_rules import AlertConfig, AlertRule, default_alert_config, load_alert_config
from dmslab.analysis.alerts import acknowledge_alert, list_alerts, run_alerts
from dmslab.cli import build_parser
from dmslab.config import Settings, SmtpSettings
from dmslab.errors import ConfigError
from dmslab.store import Store
from dmslab.store.schema import table

RECIPIENTS = {"RF1": ("cathlab@example.org",), "default": ("mpe@example.org",)}


@pytest.fixture
def store(filled) -> Iterator[Store]:
    st, _settings = filled
    yield st
    with st.engine.begin() as conn:
        conn.execute(sa.delete(table("alert")))
        conn.execute(sa.delete(table("local_drl")))
        conn.execute(sa.update(table("study")).values(standard_name=None))


@pytest.fixture
def settings(filled) -> Settings:
    return filled[1]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[SmtpSettings, _Inbox]]:
    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield SmtpSettings(host="127.0.0.1", port=port, sender="dmslab@example.org", timeout_s=5), inbox
    controller.stop()


def _expected(truth) -> set[tuple[str, str]]:
    hd = truth.injected.high_dose_fluoro
    exp = {("rf-kar-3gy", hd.study_uid), ("rf-kar-5gy", hd.study_uid)}
    exp |= {("ct-dlp-drl", e.study_uid) for e in truth.injected.drl_exceedances}
    exp |= {("rf-kap-500gycm2", s.study_uid) for s in truth.studies if s.modality == "RF" and s.total_dap_gym2 > 0.05}
    return exp


def test_default_rules_raise_exactly_the_injected_alerts(store, department, smtp_server):
    _out, truth = department
    smtp, inbox = smtp_server
    run = run_alerts(store, default_alert_config(RECIPIENTS), smtp=smtp)
    got = list_alerts(store)
    assert set(zip(got["rule_id"], got["study_uid"], strict=True)) == _expected(truth)
    assert len(truth.injected.drl_exceedances) >= 3 and len(got) == len(_expected(truth))
    hd = truth.injected.high_dose_fluoro
    row = got[(got["rule_id"] == "rf-kar-5gy")].iloc[0]
    assert row["value"] == pytest.approx(hd.total_rp_dose_gy, rel=1e-6) and row["level"] == 5.0
    assert row["unit"] == "Gy" and row["room"] == "RF1" and pd.notna(row["notified_at"])
    for e in truth.injected.drl_exceedances:
        r = got[(got["study_uid"] == e.study_uid)].iloc[0]
        assert r["value"] == pytest.approx(e.value, rel=1e-6) and r["level"] == pytest.approx(e.drl)
    # one message per room, to that room's recipients, explaining the alert
    assert run.notified == len(got) and run.unsent == 0
    by_rcpt = {tuple(rcpt): msg for rcpt, msg in inbox.messages}
    rf = by_rcpt[("cathlab@example.org",)]
    body = rf.get_payload(decode=True).decode()
    assert "RF1" in rf["Subject"] and hd.study_uid in body and f"{hd.total_rp_dose_gy:.4g} Gy > level 5 Gy" in body
    patient = next(s for s in truth.studies if s.study_uid == hd.study_uid)
    assert f"{patient.patient_weight_kg:g} kg, {patient.patient_height_m:.2f} m" in body
    assert "rf-kar-3gy" in body and "no sign of a documentation error" in body
    ct_rooms = {s.station_name for s in truth.studies if s.study_uid in {e.study_uid for e in
                                                                           truth.injected.drl_exceedances}}
    assert [r for r, _m in inbox.messages].count(["mpe@example.org"]) == len(ct_rooms)
    # re-running raises and sends nothing again
    again = run_alerts(store, default_alert_config(RECIPIENTS), smtp=smtp)
    assert len(again.new) == 0 and again.messages == 0 and len(inbox.messages) == 1 + len(ct_rooms)
    assert len(list_alerts(store)) == len(got)


def test_unsent_alerts_are_retried_and_acknowledged(store, department, smtp_server):
    smtp, inbox = smtp_server
    down = SmtpSettings(host="127.0.0.1", port=_free_port(), timeout_s=2)
    first = run_alerts(store, default_alert_config(RECIPIENTS), smtp=down)
    assert first.notified == 0 and first.unsent == len(first.new) > 0
    assert list_alerts(store)["notified_at"].isna().all()
    second = run_alerts(store, default_alert_config(RECIPIENTS), smtp=smtp)
    assert len(second.new) == 0 and second.notified == len(first.new) and len(inbox.messages) == second.messages
    alert_id = int(first.new["id"].iloc[0])
    at = dt.datetime(2026, 2, 2, 9, 30)
    acknowledge_alert(store, alert_id, by="A. Physicist (MPE)", comment="reviewed, skin follow-up booked", at=at)
    df = list_alerts(store).set_index("id")
    assert df.loc[alert_id, "acknowledged_by"] == "A. Physicist (MPE)"
    assert pd.Timestamp(df.loc[alert_id, "acknowledged_at"]) == pd.Timestamp(at)
    assert alert_id not in set(list_alerts(store, open_only=True)["id"])
    with pytest.raises(ValueError, match="already acknowledged by A. Physicist"):
        acknowledge_alert(store, alert_id, by="someone else")
    with pytest.raises(ValueError, match="no alert with id"):
        acknowledge_alert(store, 99999, by="MPE")


def test_local_level_per_room_and_cumulative_per_patient(store, department):
    _out, truth = department
    local = AlertRule("ct2-ctdi-40", "local", "CT", "ctdivol_mgy", level=20.0, factor=2.0, rooms=("CT2",))
    cumulative = AlertRule("ct-dlp-4w", "cumulative", "CT", "total_dlp_mgycm", level=700.0, weeks=4)
    run = run_alerts(store, AlertConfig((local, cumulative)))
    got = set(zip(run.new["rule_id"], run.new["study_uid"], strict=True))
    # independent references from the ground truth
    exp_local = {("ct2-ctdi-40", s.study_uid) for s in truth.studies if s.station_name == "CT2" and max(
        (e.ctdivol_mgy for e in s.events if e.ctdivol_mgy is not None and e.acquisition_type != "Constant Angle "
         "Acquisition"), default=0) > 40.0}
    exp_cum = set()
    by_patient: dict[str, list] = {}
    for s in sorted((s for s in truth.studies if s.modality == "CT"), key=lambda s: s.study_datetime):
        by_patient.setdefault(s.patient_id, []).append(s)
    for studies in by_patient.values():
        quiet = None
        for s in studies:
            t = dt.datetime.fromisoformat(s.study_datetime)
            total = sum(o.total_dlp_mgycm for o in studies
                        if t - dt.timedelta(weeks=4) < dt.datetime.fromisoformat(o.study_datetime) <= t)
            if total > 700.0 and (quiet is None or t > quiet):
                exp_cum.add(("ct-dlp-4w", s.study_uid))
                quiet = t + dt.timedelta(weeks=4)
    assert exp_local and exp_cum  # the department has such cases
    assert got == exp_local | exp_cum
    cum = run.new[run.new["rule_id"] == "ct-dlp-4w"]
    assert (cum["value"] > 700.0).all() and cum["explanation"].str.startswith("cumulative total_dlp_mgycm").all()


def test_documentation_signs():
    base = {"patient_id": 1, "modality": "CT", "room": "CT1", "study_description": "CT Head", "flags": None,
            "age_years": 50.0, "height_m": 1.75}
    rows = [dict(base, study_id=i, study_uid=f"1.{i}", weight_kg=80.0, total_dlp_mgycm=800.0 + i,
                 study_datetime=pd.Timestamp(f"2026-01-0{i + 1} 10:00")) for i in range(5)]
    rows.append(dict(base, study_id=9, study_uid="1.9", weight_kg=8.0, total_dlp_mgycm=804.0,
                     study_datetime=pd.Timestamp("2026-01-05 11:00"), flags="weight_kg=8.0: odd"))
    df = pd.DataFrame(rows)
    signs = documentation_signs(df.iloc[-1], "total_dlp_mgycm", df)
    assert any("BMI 3 kg/m2" in s for s in signs)
    assert any("differs from 80 kg" in s for s in signs)
    assert signs.count("possible duplicate of study 1.4 (same patient, day and total_dlp_mgycm)") == 1
    assert any("data flags: weight_kg=8.0" in s for s in signs)
    assert documentation_signs(df.iloc[0], "total_dlp_mgycm", df) == []


def test_rules_file(tmp_path):
    p = tmp_path / "rules.toml"
    p.write_text('[[rule]]\nid = "dx-dap"\nkind = "absolute"\nmodality = "DX"\nmetric = "total_dap_gym2"\n'
                 'level = 0.0005\nstandard_names = ["XR Chest PA"]\n\n[recipients]\ndefault = ["a@b.org"]\n'
                 'DX1 = ["dx@b.org", "lead@b.org"]\n')
    cfg = load_alert_config(p)
    assert cfg.rules[0].standard_names == ("XR Chest PA",) and cfg.rules[0].unit == "Gy.m2"
    assert cfg.recipients_for("DX1") == ("dx@b.org", "lead@b.org") and cfg.recipients_for("CT9") == ("a@b.org",)
    p.write_text('[[rule]]\nid = "x"\nkind = "max"\nmodality = "CT"\nmetric = "total_dlp_mgycm"\nlevel = 1\n')
    with pytest.raises(ConfigError, match="kind 'max' not in"):
        load_alert_config(p)
    p.write_text('[[rule]]\nid = "x"\nkind = "absolute"\nmodality = "CT"\nmetric = "psd_gy"\nlevel = 1\n')
    with pytest.raises(ConfigError, match="metric 'psd_gy' not in"):
        load_alert_config(p)
    p.write_text('[[rule]]\nid = "psd"\nkind = "absolute"\nmodality = "RF"\nmetric = "peak_skin_dose_gy"\n'
                 'level = 2\n')
    assert load_alert_config(p).rules[0].unit == "Gy"
    with pytest.raises(ConfigError, match="need weeks >= 1"):
        AlertRule("c", "cumulative", "CT", "total_dlp_mgycm", level=1.0)


def test_alerts_use_the_site_smtp_section(settings, store, department, smtp_server, monkeypatch):
    """`dmslab alerts run` sends through the [smtp] section of the site's settings (DMSLAB_SMTP_*)."""
    from dmslab.cli import main

    smtp, inbox = smtp_server
    monkeypatch.setenv("DMSLAB_SMTP_HOST", str(smtp.host))
    monkeypatch.setenv("DMSLAB_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("DMSLAB_ALERT_RECIPIENTS", "mpe@example.org")
    assert main(["--home", str(settings.home), "--database-url", settings.database_url, "alerts", "run"]) == 0
    assert inbox.messages and all(rcpt == ["mpe@example.org"] for rcpt, _msg in inbox.messages)


def test_cli_run_list_ack(settings, store, capsys, monkeypatch):
    monkeypatch.delenv("DMSLAB_SMTP_HOST", raising=False)
    parser = build_parser("alerts")

    def cli(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return int(args.func(args, lambda _args: settings))

    assert cli("alerts", "run", "--no-email") == 0
    assert "new alert(s)" in capsys.readouterr().out
    assert cli("alerts", "list", "--open") == 0
    assert "rf-kar-5gy" in capsys.readouterr().out
    first = int(list_alerts(store)["id"].min())
    assert cli("alerts", "ack", str(first), "--by", "MPE") == 0
    assert cli("alerts", "ack", str(first), "--by", "MPE") == 2
    assert "already acknowledged" in capsys.readouterr().out
    assert cli("alerts", "ack", str(first)) == 2
    assert "usage: dmslab alerts ack ID --by NAME" in capsys.readouterr().out


def test_local_rule_uses_the_sites_local_drl_by_standard_name(store, department):
    from dmslab.analysis.drl import LocalDrl, set_local_drl

    _out, truth = department
    st = table("study")
    with store.engine.begin() as conn:  # as the naming step would: one standard name for the head protocol
        conn.execute(sa.update(st).where(st.c.study_description == "CT Head Routine").values(standard_name="Head X"))
    set_local_drl(store, LocalDrl("Head X", "dlp_mgycm", 400.0, dt.datetime(2025, 1, 1)))
    rule = AlertRule("head-local", "local", "CT", "total_dlp_mgycm", factor=1.2)
    run = run_alerts(store, AlertConfig((rule,)))
    expected = {s.study_uid for s in truth.studies if s.protocol == "CT Head Routine" and s.total_dlp_mgycm > 480.0}
    assert expected and set(run.new["study_uid"]) == expected
    assert (run.new["level"] == 480.0).all()
    assert "1.2 x the site's local DRL" in run.new["explanation"].iloc[0]


def test_since_limits_the_studies_alerted(store, department):
    _out, truth = department
    hd = truth.injected.high_dose_fluoro
    when = next(s.study_datetime for s in truth.studies if s.study_uid == hd.study_uid)
    late = run_alerts(store, default_alert_config(), since=dt.datetime.fromisoformat(when) + dt.timedelta(seconds=1))
    assert hd.study_uid not in set(late.new["study_uid"])
    assert set(late.new["study_uid"]) <= {e.study_uid for e in truth.injected.drl_exceedances} | {
        s.study_uid for s in truth.studies if s.modality == "RF" and s.total_dap_gym2 > 0.05}
    assert hd.study_uid in set(run_alerts(store, default_alert_config()).new["study_uid"])  # raised when in range


def _psd_studies(psd: list[float | None], modality: str = "RF") -> pd.DataFrame:
    """Hand-made studies with a peak skin dose (Gy) each, one patient per study, one per day."""
    return pd.DataFrame([{"study_id": i, "patient_id": i, "patient_key": f"k{i}", "study_uid": f"2.{i}",
                          "study_datetime": pd.Timestamp(f"2026-02-{i + 1:02d} 09:00"), "modality": modality,
                          "study_description": "PCI", "standard_name": None, "room": "RF1", "age_years": 66.0,
                          "height_m": 1.70, "weight_kg": 80.0, "flags": None, "total_rp_dose_gy": 1.0,
                          "peak_skin_dose_gy": v} for i, v in enumerate(psd)])


def test_peak_skin_dose_rule_uses_the_value_when_present():
    studies = pd.concat([_psd_studies([2.9, 3.0, 3.4, None, 7.25]), _psd_studies([9.0], "CT").assign(study_id=9)],
                        ignore_index=True)
    cfg = AlertConfig(tuple(r for r in default_alert_config().rules if r.metric == "peak_skin_dose_gy"))
    assert [r.id for r in cfg.rules] == ["rf-psd-3gy"] and cfg.rules[0].level == 3.0
    got = alerts.evaluate_rules(cfg, studies)
    assert list(got["study_uid"]) == ["2.2", "2.4"]  # 3.4 and 7.25 Gy > 3 Gy; 3.0 is not above, CT not an RF study
    assert list(got["value"]) == [3.4, 7.25] and set(got["unit"]) == {"Gy"}
    assert got["explanation"].iloc[1].startswith("peak_skin_dose_gy = 7.25 Gy > level 3 Gy (2.42 x) in RF1")
    assert "peak skin dose is an estimate" in got["explanation"].iloc[0]
    # studies without the column (the store today): no peak-skin-dose alert, no error
    assert alerts.evaluate_rules(cfg, studies.drop(columns="peak_skin_dose_gy")).empty


def test_store_without_peak_skin_dose_gives_missing_values(store):
    df = alerts.study_metrics(store, ["RF"])
    assert len(df) > 0 and df["peak_skin_dose_gy"].dtype == float and df["peak_skin_dose_gy"].isna().all()
