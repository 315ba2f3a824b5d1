"""pipeline_run.pdf_path: the PDF written beside each HTML report

Revision ID: 0015_report_pdf
Revises: 0014_columnar
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = "0015_report_pdf"
down_revision = "0014_columnar"
branch_labels = None
depends_on = None

_COMMENT = "PDF of the HTML report (headless Chromium), for e-mail; null when the run failed"


def upgrade() -> None:
    with op.batch_alter_table("pipeline_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pdf_path", sa.Text(), nullable=True, comment=_COMMENT))


def downgrade() -> None:
    with op.batch_alter_table("pipeline_run", schema=None) as batch_op:
        batch_op.drop_column("pdf_path")
