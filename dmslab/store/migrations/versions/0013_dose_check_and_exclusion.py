"""CT Dose Check forward estimates kept apart; study exclusion reason (QA, phantoms)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

* ``ct_event.accumulated_forward_ctdivol_mgy`` / ``accumulated_forward_dlp_mgycm``: the Accumulated CTDIvol /
  DLP Forward Estimates (DCM 113906 / 113905, Dose Check Alert Details). ``forward_ctdivol_mgy`` /
  ``forward_dlp_mgycm`` now hold only the (non-accumulated) Forward Estimates (DCM 113914 / 113913,
  Notification Details). Before this revision one column held the forward estimate, else the accumulated
  one; which one a stored row holds is not recorded, so rows stored before stay as they are (re-ingest
  the objects to separate the two).
* ``study.exclusion_reason``: why a study is not a patient exam (``quality_control_image`` or
  ``not_patient_pattern: <pattern>``), decided at ingest where the patient name is still known; null for
  studies stored before (re-ingest to classify them).
"""
from alembic import op
import sqlalchemy as sa


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_EXCLUSION = ("Why the study is not a patient exam, decided at ingest: quality_control_image (Quality Control Image "
              "(0028,0300) YES) or not_patient_pattern: <pattern> ([dmslab] not_patient_patterns); left out of "
              "statistics, DRL audits and alerts by default")
_NEW = {
    "forward_ctdivol_mgy": "Dose Check CTDIvol Forward Estimate (DCM 113914, notification details) [mGy]",
    "forward_dlp_mgycm": "Dose Check DLP Forward Estimate (DCM 113913, notification details) [mGy.cm]",
}
_OLD = {
    "forward_ctdivol_mgy": "Dose Check CTDIvol Forward Estimate (DCM 113914, else accumulated 113906) [mGy]",
    "forward_dlp_mgycm": "Dose Check DLP Forward Estimate (DCM 113913, else accumulated 113905) [mGy.cm]",
}
_ACCUMULATED = {
    "accumulated_forward_ctdivol_mgy":
        "Dose Check Accumulated CTDIvol Forward Estimate (DCM 113906, alert details) [mGy]",
    "accumulated_forward_dlp_mgycm": "Dose Check Accumulated DLP Forward Estimate (DCM 113905, alert details) [mGy.cm]",
}


def upgrade() -> None:
    with op.batch_alter_table("ct_event", schema=None) as batch_op:
        for name, comment in _ACCUMULATED.items():
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True, comment=comment))
        for name, comment in _NEW.items():
            batch_op.alter_column(name, existing_type=sa.Float(), existing_nullable=True, comment=comment,
                                  existing_comment=_OLD[name])
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exclusion_reason", sa.Text(), nullable=True, comment=_EXCLUSION))


def downgrade() -> None:
    with op.batch_alter_table("study", schema=None) as batch_op:
        batch_op.drop_column("exclusion_reason")
    for name in _NEW:  # back to the old meaning: the forward estimate, else the accumulated one
        op.execute(f"UPDATE ct_event SET {name} = accumulated_{name} WHERE {name} IS NULL")
    with op.batch_alter_table("ct_event", schema=None) as batch_op:
        for name, comment in _OLD.items():
            batch_op.alter_column(name, existing_type=sa.Float(), existing_nullable=True, comment=comment,
                                  existing_comment=_NEW[name])
        for name in reversed(list(_ACCUMULATED)):
            batch_op.drop_column(name)
