"""Analysis tables: naming_rule (standard names) and local_drl (site DRLs) (dmslab.analysis)

Revision ID: 0006_analysis
Revises: 0003
Create Date: 2026-11-24 00:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_analysis'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('local_drl',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('standard_name', sa.Text(), nullable=False, comment='Standard exam name (dmslab.analysis.naming) the level applies to'),
    sa.Column('modality', sa.String(length=128), nullable=False, comment='CT, DX, MG or RF'),
    sa.Column('metric', sa.Text(), nullable=False, comment='ctdivol_mgy (per sequence), dlp_mgycm (per exam), dap_gym2 (per exposure), agd_mgy (per view), total_dap_gym2 (per exam)'),
    sa.Column('patient_group', sa.Text(), nullable=False, comment="adult, or a paediatric band such as 'paediatric age 1-5 years' / 'paediatric weight 15-30 kg'"),
    sa.Column('clinical_indication', sa.Text(), nullable=True, comment='Clinical indication the level is for, when it is indication-based'),
    sa.Column('value', sa.Float(), nullable=False, comment='Level in the canonical unit of the metric (mGy, mGy.cm, Gy.m2)'),
    sa.Column('valid_from', sa.DateTime(), nullable=False, comment='Date from which the level applies'),
    sa.Column('entered_by', sa.Text(), nullable=True, comment='Who set the level (MPE name or role)'),
    sa.Column('derived_from', sa.Text(), nullable=True, comment="How it was obtained, e.g. '75th percentile of 4 room medians, 2026-01-01..2026-06-30'"),
    sa.Column('notes', sa.Text(), nullable=True, comment='Free text'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('standard_name', 'metric', 'patient_group', 'valid_from', name='uq_local_drl_standard_name_metric_patient_group_valid_from')
    )

    op.create_table('naming_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False, comment='Order of evaluation: the matching rule with the lowest number wins (ties: table order)'),
    sa.Column('modality', sa.String(length=128), nullable=False, comment='Study modality the rule applies to: CT, DX, MG, RF, NM'),
    sa.Column('standard_name', sa.Text(), nullable=False, comment='Standard (site-independent) exam name the rule assigns'),
    sa.Column('rpid', sa.Text(), nullable=True, comment='RadLex Playbook RPID of the standard name when the site defines it here (else taken from dmslab/data/radlex.csv)'),
    sa.Column('text', sa.Text(), nullable=True, comment='Case-insensitive regular expression searched in study description, requested procedure and every acquisition protocol'),
    sa.Column('study_description', sa.Text(), nullable=True, comment='Case-insensitive regular expression searched in Study Description (0008,1030)'),
    sa.Column('requested_procedure', sa.Text(), nullable=True, comment='Case-insensitive regular expression searched in Requested Procedure Description (0032,1060)'),
    sa.Column('procedure_code', sa.Text(), nullable=True, comment='Case-insensitive regular expression searched in the procedure code SCHEME:VALUE'),
    sa.Column('acquisition_protocol', sa.Text(), nullable=True, comment="Case-insensitive regular expression searched in any event's Acquisition Protocol (DCM 125203)"),
    sa.Column('target_region', sa.Text(), nullable=True, comment="Case-insensitive regular expression searched in any event's Target Region (DCM 123014)"),
    sa.Column('view', sa.Text(), nullable=True, comment="Case-insensitive regular expression searched in any event's Image View (DCM 111031)"),
    sa.Column('phantom_cm', sa.Integer(), nullable=True, comment='CTDI phantom of any event: 16 (head) or 32 (body) [cm]'),
    sa.Column('source', sa.Text(), nullable=True, comment='Who wrote the rule (site, shared file, dmslab seed)'),
    sa.Column('edition', sa.Text(), nullable=True, comment='Version or date of the rule set'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('naming_rule', schema=None) as batch_op:
        batch_op.create_index('ix_naming_rule_modality_priority', ['modality', 'priority'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('naming_rule', schema=None) as batch_op:
        batch_op.drop_index('ix_naming_rule_modality_priority')

    op.drop_table('naming_rule')
    op.drop_table('local_drl')
