"""nm_organ_dose table: organ dose estimates of a radiopharmaceutical administration (RRDSR TID 10022)

Revision ID: 0011_nm_organ_dose
Revises: 0009
Create Date: 2026-11-24 02:10:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0011_nm_organ_dose'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('nm_organ_dose',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('event_uid', sa.String(length=128), nullable=False, comment='Radiopharmaceutical Administration Event UID (DCM 113503): with study_id the key of the nm_event row the estimate belongs to'),
    sa.Column('organ_scheme', sa.Text(), nullable=True, comment='Finding Site (SCT 363698007) coding scheme, SRT mapped to SCT; organ from CID 10044 Radiosensitive Organ'),
    sa.Column('organ_value', sa.Text(), nullable=True, comment='Finding Site code value (e.g. SCT 23451007 adrenal gland)'),
    sa.Column('organ_meaning', sa.Text(), nullable=True, comment='Finding Site code meaning as sent (display only, never matched)'),
    sa.Column('laterality_code', sa.Text(), nullable=True, comment='Laterality (SCT 272741003) as SCHEME:VALUE, e.g. SCT:51440002 right and left'),
    sa.Column('laterality', sa.Text(), nullable=True, comment='Laterality code meaning as sent'),
    sa.Column('dose_mgy', sa.Float(), nullable=True, comment='Organ Dose (DCM 113518): absorbed dose estimate to the organ of a reference person (model estimate, not a measurement on this patient); bound wide for therapy [mGy]'),
    sa.Column('mass_g', sa.Float(), nullable=True, comment="Mass of the organ used for the estimate (SCT 4147007 'Mass' in the Organ Dose container) [g]"),
    sa.Column('method', sa.Text(), nullable=True, comment='Measurement Method (SCT 370129005) of the estimate: text, or code meaning'),
    sa.Column('reference_authority_code', sa.Text(), nullable=True, comment='Reference Authority (DCM 121406) as SCHEME:VALUE when coded, CID 10040 (e.g. DCM:113523 ICRP Publication 106)'),
    sa.Column('reference_authority', sa.Text(), nullable=True, comment="Reference Authority (DCM 121406): text (e.g. 'ICRP Publication 128') or code meaning"),
    sa.Column('flags', sa.Text(), nullable=True, comment="Plausibility problems, '; '-separated"),
    sa.Column('unit_fixes', sa.Text(), nullable=True, comment="Units converted or fixed, '; '-separated"),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('nm_organ_dose', schema=None) as batch_op:
        batch_op.create_index('ix_nm_organ_dose_organ_scheme_organ_value', ['organ_scheme', 'organ_value'],
                              unique=False)
        batch_op.create_index('ix_nm_organ_dose_study_id_event_uid', ['study_id', 'event_uid'], unique=False)
        batch_op.create_index(batch_op.f('ix_nm_organ_dose_study_id'), ['study_id'], unique=False)

    with op.batch_alter_table('nm_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effective_dose_method', sa.Text(), nullable=True, comment='Measurement Method (SCT 370129005) of the reported effective dose, text or code meaning'))
        batch_op.add_column(sa.Column('effective_dose_authority_code', sa.Text(), nullable=True, comment='Reference Authority (DCM 121406) of the effective dose as SCHEME:VALUE when coded'))
        batch_op.add_column(sa.Column('effective_dose_authority', sa.Text(), nullable=True, comment="Reference Authority (DCM 121406) of the effective dose: text (e.g. 'ICRP Publication 128') or code meaning"))


def downgrade() -> None:
    with op.batch_alter_table('nm_event', schema=None) as batch_op:
        batch_op.drop_column('effective_dose_authority')
        batch_op.drop_column('effective_dose_authority_code')
        batch_op.drop_column('effective_dose_method')

    with op.batch_alter_table('nm_organ_dose', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nm_organ_dose_study_id'))
        batch_op.drop_index('ix_nm_organ_dose_study_id_event_uid')
        batch_op.drop_index('ix_nm_organ_dose_organ_scheme_organ_value')

    op.drop_table('nm_organ_dose')
