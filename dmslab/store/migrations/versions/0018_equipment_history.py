"""equipment_history: each value a device sent for its changing attributes (software versions, institution)

Before this revision the equipment row kept the first value it was created with: a software update (ESR: a cause
of unwanted protocol changes) was invisible. The table is filled from what the store already knows: each device's
current value, seen from its first to its last study.

Revision ID: 0018_equipment_history
Revises: 0017_device_last_index
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = "0018_equipment_history"
down_revision = "0017_device_last_index"
branch_labels = None
depends_on = None

_COMMENTS = {
    "attribute": "Which attribute: software_versions (0018,1020) or institution (0008,0080)",
    "value": "The value as the device sent it (multi-values joined by \\)",
    "first_seen": "Study date/time of the first object that carried the value (null: only undated objects)",
    "last_seen": "Study date/time of the last object that carried the value",
    "n_objects": "Objects stored that carried the value",
}


def upgrade() -> None:
    c = _COMMENTS
    op.create_table(
        "equipment_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.Text(), nullable=False, comment=c["attribute"]),
        sa.Column("value", sa.Text(), nullable=False, comment=c["value"]),
        sa.Column("first_seen", sa.DateTime(), nullable=True, comment=c["first_seen"]),
        sa.Column("last_seen", sa.DateTime(), nullable=True, comment=c["last_seen"]),
        sa.Column("n_objects", sa.Integer(), nullable=False, comment=c["n_objects"]),
        sa.ForeignKeyConstraint(["equipment_id"], ["equipment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("equipment_id", "attribute", "value",
                            name="uq_equipment_history_equipment_id_attribute_value"),
    )
    with op.batch_alter_table("equipment_history", schema=None) as batch_op:
        batch_op.create_index("ix_equipment_history_equipment_id", ["equipment_id"], unique=False)
    for attribute in ("software_versions", "institution"):
        op.execute(sa.text(
            "INSERT INTO equipment_history (equipment_id, attribute, value, first_seen, last_seen, n_objects) "
            f"SELECT e.id, '{attribute}', e.{attribute}, MIN(s.study_datetime), MAX(s.study_datetime), COUNT(s.id) "
            f"FROM equipment e LEFT JOIN study s ON s.equipment_id = e.id WHERE e.{attribute} IS NOT NULL "
            f"GROUP BY e.id, e.{attribute}"))


def downgrade() -> None:
    with op.batch_alter_table("equipment_history", schema=None) as batch_op:
        batch_op.drop_index("ix_equipment_history_equipment_id")
    op.drop_table("equipment_history")
