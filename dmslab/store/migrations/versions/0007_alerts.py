"""alert table: dose alerts raised once per rule and study (dmslab.analysis.alerts)

Revision ID: 0007_alerts
Revises: 0003
Create Date: 2026-11-24 00:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_alerts'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('alert_key', sa.Text(), nullable=False, comment='Identity of the alert: rule id|study UID, or rule id|patient key|study UID for cumulative rules; re-running a rule never raises it again'),
    sa.Column('rule_id', sa.Text(), nullable=False, comment='Id of the alert rule in the rules file'),
    sa.Column('rule_kind', sa.Text(), nullable=False, comment='absolute, drl (factor x national DRL), local (factor x local level) or cumulative (per patient over N weeks)'),
    sa.Column('modality', sa.String(length=128), nullable=False, comment='Study modality: CT, DX, MG, RF, NM'),
    sa.Column('room', sa.Text(), nullable=True, comment='Room of the study (equipment.room, else station name)'),
    sa.Column('standard_name', sa.Text(), nullable=True, comment='Standard exam name of the study when known'),
    sa.Column('metric', sa.Text(), nullable=False, comment='Study metric tested, e.g. total_rp_dose_gy, total_dlp_mgycm, ctdivol_mgy; its canonical unit is in column unit'),
    sa.Column('value', sa.Float(), nullable=False, comment='Value of the metric (cumulative rules: the sum over the window), in unit'),
    sa.Column('level', sa.Float(), nullable=False, comment='Level the value exceeded, in unit (DRL rules: factor x DRL)'),
    sa.Column('unit', sa.Text(), nullable=False, comment='Canonical unit of value and level (mGy, mGy.cm, Gy, Gy.m2, s)'),
    sa.Column('explanation', sa.Text(), nullable=False, comment='Why: rule, value vs level, patient size, signs of a documentation error'),
    sa.Column('raised_at', sa.DateTime(), nullable=False, comment='When the alert was raised (local time)'),
    sa.Column('notified_at', sa.DateTime(), nullable=True, comment='When it was e-mailed (null: not yet sent)'),
    sa.Column('recipients', sa.Text(), nullable=True, comment='Addresses it was e-mailed to, comma-separated'),
    sa.Column('acknowledged_by', sa.Text(), nullable=True, comment='Who acknowledged it (name or role)'),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True, comment='When it was acknowledged'),
    sa.Column('ack_comment', sa.Text(), nullable=True, comment='Comment given with the acknowledgement'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id'], ['study.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('alert_key', name='uq_alert_alert_key')
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_raised_at'), ['raised_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_study_id'), ['study_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_study_id'))
        batch_op.drop_index(batch_op.f('ix_alert_raised_at'))
        batch_op.drop_index(batch_op.f('ix_alert_patient_id'))

    op.drop_table('alert')
