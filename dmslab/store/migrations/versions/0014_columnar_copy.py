"""columnar copy of the dose metrics (columnar_chunk) and its change log (columnar_dirty), kept by triggers

Revision ID: 0014_columnar
Revises: 0013
Create Date: 2026-12-07

See dmslab/store/_columnar.py. Triggers on study, ct_event and proj_event append the chunk (study id // 32768)
of every inserted, deleted or changed row (changed: one of the copied columns) to ``columnar_dirty``, in the
writer's transaction. SQLite: row triggers, one mark per chunk (writers are serialised). PostgreSQL:
statement triggers over the transition tables, one appended mark per statement and chunk, no row locks
(concurrent writers never wait for each other on a mark). Existing studies are all marked: the first
refresh packs them.
"""
from alembic import op
import sqlalchemy as sa


revision = "0014_columnar"
down_revision = "0013"
branch_labels = None
depends_on = None

CHUNK = 32768
_STUDY = ("id", "modality", "equipment_id", "study_datetime", "standard_name", "study_description",
          "exclusion_reason", "age_years", "weight_kg", "total_dlp_mgycm", "total_dap_gym2", "total_rp_dose_gy",
          "fluoro_time_s")
COPIED = {"study": ("id", _STUDY), "ct_event": ("study_id", ("study_id", "ctdivol_mgy", "acquisition_type")),
          "proj_event": ("study_id", ("study_id", "dap_gym2", "agd_mgy"))}


def _sqlite(table: str, key: str, cols: tuple[str, ...]) -> list[str]:
    def mark(row: str) -> str:
        c = f"{row}.{key} / {CHUNK}"
        return (f"INSERT INTO columnar_dirty (chunk) SELECT {c} "
                f"WHERE NOT EXISTS (SELECT 1 FROM columnar_dirty WHERE chunk = {c});")
    return [f"CREATE TRIGGER columnar_{table}_ins AFTER INSERT ON {table} BEGIN {mark('NEW')} END",
            f"CREATE TRIGGER columnar_{table}_del AFTER DELETE ON {table} BEGIN {mark('OLD')} END",
            f"CREATE TRIGGER columnar_{table}_upd AFTER UPDATE OF {', '.join(cols)} ON {table} "
            f"BEGIN {mark('OLD')} {mark('NEW')} END"]


def _pg(table: str, key: str, cols: tuple[str, ...]) -> list[str]:
    changed = " OR ".join(f"n.{c} IS DISTINCT FROM o.{c}" for c in cols)
    sources = {"ins": f"SELECT {key} AS k FROM new_rows", "del": f"SELECT {key} AS k FROM old_rows",
               "upd": f"SELECT n.{key} AS k FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {changed} "
                      f"UNION SELECT o.{key} FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {changed}"}
    ops = {"ins": ("INSERT", "NEW TABLE AS new_rows"), "del": ("DELETE", "OLD TABLE AS old_rows"),
           "upd": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows")}
    out = []
    for op_name, src in sources.items():
        fn = f"dmslab_columnar_{table}_{op_name}"
        out.append(f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   f"INSERT INTO columnar_dirty (chunk) SELECT DISTINCT k / {CHUNK} FROM ({src}) s ORDER BY 1; "
                   f"RETURN NULL; END $$")
        event, ref = ops[op_name]
        out.append(f"CREATE TRIGGER columnar_{table}_{op_name} AFTER {event} ON {table} REFERENCING {ref} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()")
    return out


def upgrade() -> None:
    op.create_table("columnar_chunk",
                    sa.Column("kind", sa.String(32), primary_key=True),
                    sa.Column("chunk", sa.Integer, primary_key=True),
                    sa.Column("n_rows", sa.Integer, nullable=False, comment="Rows in the payload"),
                    sa.Column("payload", sa.LargeBinary, nullable=False, comment="Arrow IPC stream (zstd)"))
    op.create_table("columnar_dirty",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("chunk", sa.Integer, nullable=False, comment="Chunk changed since it was packed"))
    op.create_index("ix_columnar_dirty_chunk", "columnar_dirty", ["chunk"])
    build = _pg if op.get_bind().dialect.name == "postgresql" else _sqlite
    for table, (key, cols) in COPIED.items():
        for stmt in build(table, key, cols):
            op.execute(stmt)
    op.execute(f"INSERT INTO columnar_dirty (chunk) SELECT DISTINCT id / {CHUNK} FROM study")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for table in COPIED:
        for op_name in ("ins", "del", "upd"):
            op.execute(f"DROP TRIGGER IF EXISTS columnar_{table}_{op_name}" + (f" ON {table}" if pg else ""))
            if pg:
                op.execute(f"DROP FUNCTION IF EXISTS dmslab_columnar_{table}_{op_name}()")
    op.drop_index("ix_columnar_dirty_chunk", table_name="columnar_dirty")
    op.drop_table("columnar_dirty")
    op.drop_table("columnar_chunk")
