"""Objects already stored under a SOP Instance UID: duplicate, changed version, or a reused UID.

Rule for an object whose SOP Instance UID the store has seen (as ingested or superseded):

- the same bytes (SHA-256) as a stored object: a ``duplicate``, nothing changes;
- other content in the same study (Study Instance UID and modality): a changed version of the object,
  combined with the study by the merge rules of :mod:`dmslab.store._merge` like any other object;
- other content in another study: a different exam sent under a reused UID. It is stored as its own
  study, and both studies are flagged ``sop_uid_reused``, each naming the other object.

Nothing is ever dropped silently: every object gets its ``source_object`` row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dmslab.store.schema import table

__all__ = ["REUSED_FLAG", "Seen", "add_flag", "reuse_flag", "seen_objects"]

#: The study flag (``study.flags``) of a study whose object's SOP Instance UID also names another object.
REUSED_FLAG = "sop_uid_reused"


@dataclass(frozen=True, slots=True)
class Seen:
    """One stored object of a SOP Instance UID: its bytes' SHA-256, its study and where it was read from."""

    sha256: str
    study_id: int | None
    key: tuple[str, str]
    path: str | None

    def named(self) -> str:
        """How a flag or detail names the object."""
        return f"{self.path or '(no path)'} (sha256 {self.sha256[:12]}) of study {self.key[0]} {self.key[1]}"


def seen_objects(conn: sa.Connection, sops: Iterable[str | None], chunk: int) -> dict[str, list[Seen]]:
    """Stored (ingested or superseded) objects per SOP Instance UID among ``sops``."""
    so, st = table("source_object"), table("study")
    q = (sa.select(so.c.sop_instance_uid, so.c.sha256, so.c.study_id, so.c.path, st.c.study_uid, st.c.modality)
         .join_from(so, st, so.c.study_id == st.c.id)
         .where(so.c.status.in_(("ingested", "superseded"))).order_by(so.c.id))
    vals = sorted({s for s in sops if s is not None})
    out: dict[str, list[Seen]] = {}
    for i in range(0, len(vals), chunk):
        for sop, sha, sid, path, uid, modality in conn.execute(q.where(so.c.sop_instance_uid.in_(vals[i:i + chunk]))):
            out.setdefault(sop, []).append(Seen(sha, sid, (uid, modality), path))
    return out


def reuse_flag(sop: str, other: Seen) -> str:
    """The ``sop_uid_reused`` flag naming ``other``, the object stored under the same SOP Instance UID."""
    return f"{REUSED_FLAG}: SOP Instance UID {sop} also names {other.named()}"


def add_flag(flags: Any, flag: str) -> str:
    """``flags`` ("; "-joined) with ``flag`` appended once."""
    parts = [p for p in str(flags or "").split("; ") if p]
    return "; ".join(dict.fromkeys([*parts, flag]))
