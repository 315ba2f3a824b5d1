"""Store the organ dose estimates of radiopharmaceutical administrations (table ``nm_organ_dose``).

Each estimate belongs to a study and names its administration by the Administration Event UID:
``(study_id, event_uid)`` is the key of the ``nm_event`` row (unique there), so the two tables join on it.
The records come from ``dmslab.ingest.rdsr`` (``NmOrganDoseRecord``); the store only needs their fields, so
it takes any dataclass with the contract's columns and never imports the ingest package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dmslab.records import record_values
from dmslab.store.schema import table

__all__ = ["insert_nm_organ_doses", "nm_organ_doses"]

logger = logging.getLogger(__name__)


def insert_nm_organ_doses(conn: sa.Connection, study_id: int, doses: Sequence[Any]) -> int:
    """Insert the organ dose estimates of one study's administrations; returns the number of rows inserted.

    Parameters
    ----------
    conn
        An open connection inside the write transaction, after the study's ``nm_event`` rows were inserted.
    study_id
        The study the administrations belong to.
    doses
        Organ dose records (fields = the ``nm_organ_dose`` contract columns, ``dose_mgy`` in mGy, ``mass_g``
        in g), each naming its administration by ``event_uid``.

    Notes
    -----
    An administration that already has organ doses keeps them (a repeated or continued RRDSR adds nothing);
    an estimate whose administration is not in the study is logged and skipped.
    """
    if not doses:
        return 0
    ev, od = table("nm_event"), table("nm_organ_dose")
    uids = sorted({d.event_uid for d in doses})
    known = set(conn.execute(sa.select(ev.c.event_uid).where(ev.c.study_id == study_id,
                                                             ev.c.event_uid.in_(uids))).scalars())
    done = set(conn.execute(sa.select(od.c.event_uid).where(od.c.study_id == study_id, od.c.event_uid.in_(uids))
                            .distinct()).scalars())
    rows = []
    for d in doses:
        if d.event_uid not in known:
            logger.warning("study %s: organ dose for administration %s, which the study does not have; skipped",
                           study_id, d.event_uid)
        elif d.event_uid not in done:
            rows.append({"study_id": study_id, **record_values(d)})
    if rows:
        conn.execute(od.insert(), rows)
    return len(rows)


def nm_organ_doses(conn: sa.Connection, *, study_uid: str | None = None) -> pd.DataFrame:
    """Organ dose estimates with their study UID and radionuclide (all studies, or one); dose in mGy, mass in g."""
    st, ev, od = table("study"), table("nm_event"), table("nm_organ_dose")
    q = (sa.select(st.c.study_uid, ev.c.radionuclide, ev.c.activity_mbq, *[c for c in od.c if c.name != "id"])
         .select_from(od.join(ev, sa.and_(od.c.study_id == ev.c.study_id, od.c.event_uid == ev.c.event_uid))
                      .join(st, od.c.study_id == st.c.id))
         .order_by(od.c.id))
    if study_uid is not None:
        q = q.where(st.c.study_uid == study_uid)
    return pd.DataFrame(conn.execute(q).mappings().all(), columns=[c.key for c in q.selected_columns])
