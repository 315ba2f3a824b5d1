"""pipeline_run table: scheduled notebook runs (dmslab.reporting)

Revision ID: 0008_reporting
Revises: 0003
Create Date: 2026-11-24 00:25:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_reporting'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pipeline_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pipeline', sa.Text(), nullable=False, comment='Pipeline name (pipelines/<name>.yml)'),
    sa.Column('notebook', sa.Text(), nullable=False, comment='Notebook that was executed (path as resolved from the pipeline file)'),
    sa.Column('schedule', sa.Text(), nullable=False, comment='daily | weekly | monthly'),
    sa.Column('period', sa.Text(), nullable=False, comment='Period label: YYYY-MM-DD (daily), YYYY-Www (ISO week), YYYY-MM (monthly)'),
    sa.Column('period_start', sa.DateTime(), nullable=False, comment='First day of the period (local date, 00:00)'),
    sa.Column('period_end', sa.DateTime(), nullable=False, comment='First day after the period (exclusive end)'),
    sa.Column('started_at', sa.DateTime(), nullable=False, comment='When the run started (UTC)'),
    sa.Column('finished_at', sa.DateTime(), nullable=True, comment='When the run finished (UTC); null while running or after a crash'),
    sa.Column('status', sa.String(length=128), nullable=False, comment='running | ok | failed'),
    sa.Column('error', sa.Text(), nullable=True, comment='Why the run failed: exception name and message of the failing notebook cell'),
    sa.Column('parameters', sa.Text(), nullable=True, comment='Notebook parameters as JSON (database URL with the password hidden)'),
    sa.Column('notebook_path', sa.Text(), nullable=True, comment='Executed notebook written by papermill (kept for failed runs too)'),
    sa.Column('report_path', sa.Text(), nullable=True, comment='HTML report (nbconvert, code cells hidden); null when the run failed'),
    sa.Column('emailed_to', sa.Text(), nullable=True, comment="Recipients the report was e-mailed to, '; '-separated; null when not sent"),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pipeline_run', schema=None) as batch_op:
        batch_op.create_index('ix_pipeline_run_pipeline_period_start', ['pipeline', 'period_start'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pipeline_run', schema=None) as batch_op:
        batch_op.drop_index('ix_pipeline_run_pipeline_period_start')

    op.drop_table('pipeline_run')
