"""Standard names: seed rules map every synthetic protocol; multi-field rules; rule changes update old studies."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from dmslab.analysis.naming import (
    NamingRule,
    apply_names,
    classify,
    export_rules,
    import_rules,
    load_rules,
    seed_rules,
    standard_names,
    unmapped,
)
from dmslab.jobs import ingest_paths
from dmslab.store import Store
from dmslab.store.schema import table
from dmslab.synth._protocols import CT_PROTOCOLS, DX_PROTOCOLS, MG_PROTOCOL, RF_PROTOCOLS

#: Hand-written expectation for every protocol of the synthetic department.
EXPECTED = {
    ("CT", "CT Head Routine"): "CT Head wo IV Contrast", ("CT", "CT Sinus"): "CT Sinuses wo IV Contrast",
    ("CT", "CT C-Spine Trauma"): "CT Cervical Spine wo IV Contrast", ("CT", "CT Chest Lung Cancer"): "CT Chest",
    ("CT", "CT Chest Abdomen Pelvis"): "CT Chest Abdomen Pelvis",
    ("CT", "CT Pulmonary Angiogram"): "CT Pulmonary Angiogram", ("CT", "CT Abdomen Pelvis"): "CT Abdomen Pelvis",
    ("CT", "CT KUB Stones"): "CT KUB", ("DX", "Chest PA"): "XR Chest PA", ("DX", "Abdomen AP"): "XR Abdomen",
    ("DX", "Lumbar Spine AP"): "XR Lumbar Spine AP", ("DX", "Knee"): "XR Knee",
    ("MG", MG_PROTOCOL): "MG Screening Mammography", ("RF", "Barium Swallow"): "RF Barium Swallow",
    ("RF", "ERCP"): "RF ERCP", ("RF", "Coronary Angiography"): "XA Coronary Angiography", ("RF", "PCI"): "XA PCI",
}


def _features(rows: list[dict[str, str]]) -> pd.DataFrame:
    cols = ["modality", "study_description", "requested_procedure", "procedure_code", "acquisition_protocols",
            "target_regions", "views", "phantoms"]
    df = pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows])
    df["text"] = df["study_description"] + "\n" + df["requested_procedure"] + "\n" + df["acquisition_protocols"]
    return df


def test_every_synthetic_protocol_maps():
    names = ([("CT", p.name) for p in CT_PROTOCOLS] + [("DX", p.name) for p in DX_PROTOCOLS]
             + [("RF", p.name) for p in RF_PROTOCOLS] + [("MG", MG_PROTOCOL)])
    assert set(names) == set(EXPECTED)
    got = classify(_features([{"modality": m, "study_description": n} for m, n in names]), seed_rules())
    assert dict(zip(names, got, strict=True)) == EXPECTED
    known = set(standard_names()["standard_name"])
    assert {r.standard_name for r in seed_rules()} <= known


@pytest.mark.parametrize(("row", "expected"), [
    # no usable description: target region and CTDI phantom decide
    ({"modality": "CT", "study_description": "ZZ-123", "target_regions": "Head", "phantoms": "16"},
     "CT Head wo IV Contrast"),
    ({"modality": "CT", "study_description": "ZZ-123", "target_regions": "Head", "phantoms": "32"}, None),
    # the name is in the requested procedure or an acquisition protocol only
    ({"modality": "CT", "requested_procedure": "CTPA"}, "CT Pulmonary Angiogram"),
    ({"modality": "CT", "acquisition_protocols": "Thorax w contrast"}, "CT Chest w IV Contrast"),
    ({"modality": "CT", "study_description": "Chest wo contrast"}, "CT Chest wo IV Contrast"),
    # the more specific rule wins over the generic one; modality matters
    ({"modality": "CT", "study_description": "CT chest pulmonary angio"}, "CT Pulmonary Angiogram"),
    ({"modality": "DX", "study_description": "Chest", "views": "lateral"}, "XR Chest Lateral"),
    ({"modality": "DX", "study_description": "CT Head"}, None),
    ({"modality": "RF", "study_description": "PTCA LAD"}, "XA PCI"),
])
def test_multi_field_rules(row, expected):
    assert classify(_features([row]), seed_rules()).iloc[0] == expected


def test_invalid_rule_is_rejected():
    with pytest.raises(ValueError, match="modality"):
        NamingRule(1, "XX", "A")
    with pytest.raises(ValueError, match="pattern"):
        NamingRule(1, "CT", "A", text="(unclosed")


def _forget_names(store: Store) -> None:
    st = table("study")
    with store.engine.begin() as conn:
        conn.execute(sa.update(st).values(standard_name=None))


def test_apply_rule_change_import_export_unmapped(settings, department, tmp_path):
    folder, truth = department
    store = Store(settings.database_url)
    ingest_paths([folder], settings, store=store)
    _forget_names(store)  # a database whose studies were ingested before names were applied at ingest
    first = apply_names(store)
    assert (first.studies, first.unmapped, first.changed) == (len(truth.studies), 0, len(truth.studies))
    assert apply_names(store).changed == 0  # idempotent
    names = store.read("select study_uid, standard_name from study")
    by_uid = dict(zip(names["study_uid"], names["standard_name"], strict=True))
    assert {by_uid[s.study_uid] for s in truth.studies if s.protocol == "CT Sinus"} == {"CT Sinuses wo IV Contrast"}
    # export the seed rules, change one, import: old studies follow the new rule
    path = tmp_path / "rules.csv"
    assert export_rules(store, path) == len(seed_rules())
    rules = pd.read_csv(path, dtype=str, keep_default_na=False)
    rules.loc[rules["standard_name"] == "CT Sinuses wo IV Contrast", "standard_name"] = "CT Sinus (site)"
    rules = rules[rules["standard_name"] != "XR Knee"]
    rules.to_csv(path, index=False)
    assert import_rules(store, path) == len(seed_rules()) - 1
    assert len(load_rules(store)) == len(seed_rules()) - 1
    n_sinus = sum(s.protocol == "CT Sinus" for s in truth.studies)
    n_knee = sum(s.protocol == "Knee" for s in truth.studies)
    again = apply_names(store)
    assert again.changed == n_sinus + n_knee and again.unmapped == n_knee
    names = store.read("select study_uid, standard_name from study")
    by_uid = dict(zip(names["study_uid"], names["standard_name"], strict=True))
    assert {by_uid[s.study_uid] for s in truth.studies if s.protocol == "CT Sinus"} == {"CT Sinus (site)"}
    left = unmapped(store)
    assert left[["modality", "local_name", "n_studies"]].values.tolist() == [["DX", "Knee", n_knee]]
    assert left["best"].iloc[0] == "XR Knee"
    store.close()


def _names(store: Store) -> dict[tuple[str, str], str | None]:
    df = store.read("select study_uid, modality, standard_name from study")
    return {(u, m): n for u, m, n in zip(df["study_uid"], df["modality"], df["standard_name"], strict=True)}


def test_names_are_set_at_ingest_and_follow_a_rule_change(settings, department, tmp_path, capsys):
    from dmslab.cli import main

    folder, truth = department
    ingest_paths([folder], settings)  # no report ran, no `names apply`
    expected = {(s.study_uid, s.modality): EXPECTED[(s.modality, s.protocol)] for s in truth.studies}
    store = Store(settings.database_url)
    assert _names(store) == expected
    # a rule change alone renames nothing; `dmslab names apply` re-applies the rules to every study
    path = tmp_path / "rules.csv"
    export_rules(store, path)
    rules = pd.read_csv(path, dtype=str, keep_default_na=False)
    rules.loc[rules["standard_name"] == "CT Sinuses wo IV Contrast", "standard_name"] = "CT Sinus (site)"
    rules.to_csv(path, index=False)
    import_rules(store, path)
    assert _names(store) == expected
    args = ["--home", str(settings.home), "--database-url", settings.database_url, "names", "apply"]
    assert main(args) == 0
    n_sinus = sum(s.protocol == "CT Sinus" for s in truth.studies)
    assert f"{n_sinus} changed" in capsys.readouterr().out
    renamed = {k: ("CT Sinus (site)" if v == "CT Sinuses wo IV Contrast" else v) for k, v in expected.items()}
    assert _names(store) == renamed and n_sinus > 0
    store.close()
