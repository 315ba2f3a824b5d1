"""derived_value table: derived quantities (SSDE, effective dose, later skin dose) with their method record

Revision ID: 0016_derived_values
Revises: 0015_report_pdf
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = "0016_derived_values"
down_revision = "0015_report_pdf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "derived_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column('event_uid', sa.String(length=128), nullable=True, comment='Irradiation Event UID of the event the value belongs to; null for a study-level value'),
        sa.Column('quantity', sa.String(length=64), nullable=False, comment='What was derived, named with its canonical unit (ssde_mgy, effective_dose_msv, peak_skin_dose_gy, dw_cm ...)'),
        sa.Column('value', sa.Float(), nullable=True, comment='The derived value in unit; null when the method refused (flags say why)'),
        sa.Column('unit', sa.String(length=32), nullable=False, comment="Canonical unit of value (matches the quantity's suffix)"),
        sa.Column('method', sa.String(length=64), nullable=False, comment='Method name (e.g. aapm204_deff, dlp_k_factor); a value is replaced only by the same method'),
        sa.Column('method_version', sa.String(length=32), nullable=False, comment="Version of the method's code and tables that produced the value"),
        sa.Column('basis', sa.Text(), nullable=True, comment="Reference the method rests on (e.g. 'AAPM Report 204 (2011)', 'ICRP 60 via EUR 16262 / AAPM 96')"),
        sa.Column('inputs', sa.Text(), nullable=False, comment='JSON object: the input values used, with units in the key names'),
        sa.Column('assumptions', sa.Text(), nullable=False, comment='JSON array of sentences: what the method assumed (reference person, phantom, size source)'),
        sa.Column('uncertainty', sa.Text(), nullable=True, comment="Stated uncertainty of the value (text, e.g. '+-40 % (reference person)')"),
        sa.Column('flags', sa.Text(), nullable=True, comment="'; '-separated flags, e.g. outside_fit_domain, phantom_mismatch, size_from_age"),
        sa.Column('detail', sa.Text(), nullable=True, comment='JSON object: further results of the method (e.g. peak skin dose location, areas above 2/3/5 Gy)'),
        sa.Column('artifact', sa.Text(), nullable=True, comment='Where a larger result is stored (e.g. the skin-dose map), relative to the site home; or null'),
        sa.Column('computed_at', sa.DateTime(), nullable=False, comment='When the value was computed (local time)'),
        sa.ForeignKeyConstraint(["study_id"], ["study.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("derived_value", schema=None) as batch_op:
        batch_op.create_index("ix_derived_value_study_quantity", ["study_id", "quantity"], unique=False)
        batch_op.create_index(batch_op.f("ix_derived_value_study_id"), ["study_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("derived_value", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_derived_value_study_id"))
        batch_op.drop_index("ix_derived_value_study_quantity")
    op.drop_table("derived_value")
