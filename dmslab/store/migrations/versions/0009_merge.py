"""merge the feature branches (mpps, analysis, alerts, reporting)

Revision ID: 0009
Revises: 0005_mpps, 0006_analysis, 0007_alerts, 0008_reporting
Create Date: 2026-11-24
"""

revision = "0009"
down_revision = ("0005_mpps", "0006_analysis", "0007_alerts", "0008_reporting")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
