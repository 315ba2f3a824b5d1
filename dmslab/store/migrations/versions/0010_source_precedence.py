"""source precedence: event origin, source_object source_kind and superseded status

Revision ID: 0010_source_precedence
Revises: 0009
Create Date: 2026-11-24

Existing rows are filled in: a source object's kind from its importer (rdsr, rrdsr and siemens_summary
are RDSRs, ocr a dose screen, manual a manual entry, header an image header), an event's origin from its
study's source_kind (rows stored before this revision were never told apart per event).
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_source_precedence'
down_revision = '0009'
branch_labels = None
depends_on = None

_ORIGIN = ("Kind of dose source the event was read from: rdsr (RDSR, Enhanced SR or vendor summary), ocr (dose "
           "screen: Philips Dose Info or OCR), header (image header) or manual; per study only the best kind counts")
_STATUS_NEW = ("ingested | duplicate | rejected | superseded (its events do not count: the study has a better dose "
               "source, named in detail)")
_STATUS_OLD = "ingested | duplicate | rejected"
_REASON_NEW = ("Stable reason code when rejected, duplicate or superseded (see dmslab.errors.IngestError; "
               "superseded_by_<kind>)")
_REASON_OLD = "Stable reason code when rejected or duplicate (see dmslab.errors.IngestError)"
_KIND = ("Kind of dose source the object is: rdsr, ocr (dose screen), header (image header) or manual; ranks "
         "rdsr > ocr > header per study")


def upgrade() -> None:
    for name in ('ct_event', 'proj_event'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('origin', sa.Text(), nullable=True, comment=_ORIGIN))
    with op.batch_alter_table('source_object', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_kind', sa.Text(), nullable=True, comment=_KIND))
        batch_op.alter_column('status', existing_type=sa.String(length=128), existing_nullable=False,
                              comment=_STATUS_NEW, existing_comment=_STATUS_OLD)
        batch_op.alter_column('reason', existing_type=sa.String(length=128), existing_nullable=True,
                              comment=_REASON_NEW, existing_comment=_REASON_OLD)
    op.execute("UPDATE source_object SET source_kind = CASE "
               "WHEN importer IN ('rdsr', 'rrdsr', 'siemens_summary') THEN 'rdsr' "
               "WHEN importer IN ('ocr', 'manual', 'header') THEN importer END "
               "WHERE status = 'ingested'")
    for name in ('ct_event', 'proj_event'):
        op.execute(f"UPDATE {name} SET origin = (SELECT study.source_kind FROM study WHERE study.id = {name}.study_id)")


def downgrade() -> None:
    with op.batch_alter_table('source_object', schema=None) as batch_op:
        batch_op.alter_column('reason', existing_type=sa.String(length=128), existing_nullable=True,
                              comment=_REASON_OLD, existing_comment=_REASON_NEW)
        batch_op.alter_column('status', existing_type=sa.String(length=128), existing_nullable=False,
                              comment=_STATUS_OLD, existing_comment=_STATUS_NEW)
        batch_op.drop_column('source_kind')
    for name in ('proj_event', 'ct_event'):
        with op.batch_alter_table(name, schema=None) as batch_op:
            batch_op.drop_column('origin')
