"""Display helpers shared by the dashboards: the names the drill-down, size, protocol and fluoroscopy views
import. The formatter itself is :func:`dmslab.dashboards.overview.styled` (one formatter for every table; this module
used to carry a second copy with different rules, and the DRL explorer's tables showed ``272.180000``)."""

from __future__ import annotations

from dmslab.dashboards.overview import HIDDEN, styled

__all__ = ["HIDDEN", "shown"]

#: Every dashboard table goes through the one formatter.
shown = styled
