"""merge source precedence and NM organ doses

Revision ID: 0012
Revises: 0010_source_precedence, 0011_nm_organ_dose
Create Date: 2026-11-24
"""

revision = "0012"
down_revision = ("0010_source_precedence", "0011_nm_organ_dose")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
