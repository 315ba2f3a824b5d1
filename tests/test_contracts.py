"""The contracts, the records and the store tables describe the same columns."""

from dataclasses import fields

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dmslab import records
from dmslab.contracts import TABLES, check_values, load_contract
from dmslab.store import Store, metadata

RECORD_OF = {"equipment": records.EquipmentRecord, "patient": records.PatientRecord, "study": records.StudyRecord,
             "ct_event": records.CtEventRecord, "proj_event": records.ProjEventRecord,
             "proj_plane": records.PlaneRecord, "nm_event": records.NmEventRecord,
             "nm_organ_dose": records.NmOrganDoseRecord}
STORE_ONLY = {"study": {"standard_name", "n_events"}, "equipment": {"display_name", "room"}}
KEYS = {"id", "study_id", "equipment_id", "patient_id"}


@pytest.mark.parametrize("name", sorted(RECORD_OF))
def test_records_mirror_contracts(name):
    contract = {c.name for c in load_contract(name).columns}
    record = {f.name for f in fields(RECORD_OF[name])}
    assert record == contract - STORE_ONLY.get(name, set())


@pytest.mark.parametrize("name", TABLES)
def test_store_tables_are_the_contracts(name):
    cols = {c.name for c in metadata().tables[name].columns}
    assert cols - KEYS == {c.name for c in load_contract(name).columns}


@pytest.mark.parametrize("name", TABLES)
def test_physical_quantities_carry_units(name):
    for c in load_contract(name).columns:
        if c.type == "float" and c.name.endswith(("_mgy", "_gy", "_gym2", "_mgycm", "_mm", "_s", "_ms", "_kg", "_m")):
            assert c.unit, f"{name}.{c.name} has no unit"
            assert c.min is not None and c.max is not None, f"{name}.{c.name} has no plausibility range"


def test_check_values_flags_implausible_values_with_reason():
    assert check_values("ct_event", {"event_uid": "1", "ctdivol_mgy": 12.0}) == ()
    assert check_values("ct_event", {"ctdivol_mgy": 5000.0}) == (
        "ctdivol_mgy=5000.0: above plausible maximum 1000 mGy",)
    assert check_values("proj_event", {"dap_gym2": -1e-5}) == ("dap_gym2=-1e-05: below plausible minimum 0 Gy.m2",)
    assert check_values("proj_event", {"event_uid": None}) == ("event_uid=None: required value missing",)
    assert check_values("ct_event", {"ctdivol_mgy": "12"}) == ("ctdivol_mgy='12': type str, expected float",)


def test_migrations_match_the_schema(db_url):
    store = Store(db_url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata())
        versions = {r[0] for r in conn.execute(sa.text("select version_num from alembic_version"))}
    store.close()
    assert diff == []
    from alembic.script import ScriptDirectory

    from dmslab.store._migrate import alembic_config

    assert versions == set(ScriptDirectory.from_config(alembic_config()).get_heads())
