"""mpps table: dose content of Modality Performed Procedure Steps (dmslab.net.mpps)

Revision ID: 0005_mpps
Revises: 0003
Create Date: 2026-11-24 00:30:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_mpps'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mpps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=True),
    sa.Column('sop_instance_uid', sa.String(length=128), nullable=False, comment='MPPS SOP Instance UID (Affected SOP Instance UID of the N-CREATE)'),
    sa.Column('pps_id', sa.Text(), nullable=True, comment='Performed Procedure Step ID (0040,0253)'),
    sa.Column('status', sa.String(length=128), nullable=False, comment='Performed Procedure Step Status (0040,0252): IN PROGRESS | COMPLETED | DISCONTINUED'),
    sa.Column('start_datetime', sa.DateTime(), nullable=True, comment='Performed Procedure Step Start Date/Time (0040,0244/0245), as sent (local time of the modality)'),
    sa.Column('end_datetime', sa.DateTime(), nullable=True, comment='Performed Procedure Step End Date/Time (0040,0250/0251), as sent'),
    sa.Column('station_ae', sa.Text(), nullable=True, comment='Performed Station AE Title (0040,0241)'),
    sa.Column('station_name', sa.Text(), nullable=True, comment='Performed Station Name (0040,0242)'),
    sa.Column('modality', sa.String(length=128), nullable=True, comment='Modality (0008,0060) as sent (CT, XA, RF, DX, CR, MG, NM, PT...)'),
    sa.Column('study_uid', sa.String(length=128), nullable=True, comment='Study Instance UID (0020,000D) of the first Scheduled Step Attribute Sequence (0040,0270) item; links the step to the study'),
    sa.Column('description', sa.Text(), nullable=True, comment='Performed Procedure Step Description (0040,0254)'),
    sa.Column('procedure_code', sa.Text(), nullable=True, comment='First Procedure Code Sequence (0008,1032) item as SCHEME:VALUE'),
    sa.Column('fluoro_time_s', sa.Float(), nullable=True, comment='Total Time of Fluoroscopy (0040,0300) [s]'),
    sa.Column('n_exposures', sa.Integer(), nullable=True, comment='Total Number of Exposures (0040,0301)'),
    sa.Column('entrance_dose_mgy', sa.Float(), nullable=True, comment='Entrance Dose in mGy (0040,8302), else Entrance Dose (0040,0302) converted from dGy [mGy]'),
    sa.Column('exposed_area_m2', sa.Float(), nullable=True, comment='Exposed Area (0040,0303) converted from cm2 [m2]'),
    sa.Column('dap_gym2', sa.Float(), nullable=True, comment='Image and Fluoroscopy Area Dose Product (0018,115E) converted from dGy.cm2 [Gy.m2]'),
    sa.Column('ctdivol_mgy', sa.Float(), nullable=True, comment='Largest CTDIvol (0018,9345) of the CT Exposure Sequence (0018,9321) items (or top level) [mGy]'),
    sa.Column('dlp_mgycm', sa.Float(), nullable=True, comment="Total DLP where the modality sends it: the number after 'DLP' in Comments on Radiation Dose (0040,0310) (no standard attribute exists) [mGy.cm]"),
    sa.Column('n_ct_exposures', sa.Integer(), nullable=True, comment='Items of CT Exposure Sequence (0018,9321)'),
    sa.Column('n_exposure_dose_items', sa.Integer(), nullable=True, comment='Items of Exposure Dose Sequence (0040,030E, retired)'),
    sa.Column('dose_comment', sa.Text(), nullable=True, comment='Comments on Radiation Dose (0040,0310)'),
    sa.Column('n_series', sa.Integer(), nullable=True, comment='Items of Performed Series Sequence (0040,0340)'),
    sa.Column('updated_at', sa.DateTime(), nullable=False, comment='When dmslab last stored an N-CREATE or N-SET of this step (UTC)'),
    sa.Column('n_sets', sa.Integer(), nullable=False, comment='N-SETs applied to this step'),
    sa.Column('flags', sa.Text(), nullable=True, comment="Plausibility problems, '; '-separated 'field=value: reason' (null when none)"),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sop_instance_uid', name='uq_mpps_sop_instance_uid')
    )
    with op.batch_alter_table('mpps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mpps_study_id'), ['study_id'], unique=False)
        batch_op.create_index('ix_mpps_study_uid', ['study_uid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mpps', schema=None) as batch_op:
        batch_op.drop_index('ix_mpps_study_uid')
        batch_op.drop_index(batch_op.f('ix_mpps_study_id'))

    op.drop_table('mpps')
