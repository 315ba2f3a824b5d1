"""The kernel manager under Voila's pool (``VoilaConfiguration.multi_kernel_manager_class``): jupyter_server's,
counting a kernel that waits in the preheated pool as active, so that the culler does not shut it down the moment a
visitor takes it.

Measured (issue 13): a dashboard nobody opened for longer than the cull time (600 s) has a pooled kernel whose last
activity is its pre-run. Voila hands it to the next visitor; the culler's next pass (every 60 s) no longer sees it
in the pool, finds it idle for 765 s with no connection yet (the page is still loading) and shuts it down: the page
shows its outputs, then "The model for kernel id ... does not exist" (404 on ``/api/kernels/<id>``) and no widget
works. Refreshing the pooled kernels' activity on every pass makes a handed-out kernel at most one pass old.
"""

from __future__ import annotations

import datetime as dt

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

__all__ = ["PoolAwareKernelManager"]


class PoolAwareKernelManager(AsyncMappingKernelManager):
    """:class:`AsyncMappingKernelManager` whose culler counts kernels waiting in Voila's pool as active."""

    def pooled_kernel_ids(self) -> list[str]:
        """The kernels ready in Voila's pools (``_pools`` of Voila's subclass; none without preheating)."""
        ids = []
        for pool in getattr(self, "_pools", {}).values():
            for task in pool:
                if task.done() and not task.cancelled() and task.exception() is None:
                    ids.append(task.result()["kernel_id"])
        return [k for k in ids if k in self]

    async def cull_kernels(self) -> None:
        """Mark the pooled kernels active, then cull as jupyter_server does."""
        now = dt.datetime.now(dt.UTC)
        for kernel_id in self.pooled_kernel_ids():
            self.get_kernel(kernel_id).last_activity = now  # type: ignore[attr-defined]  # jupyter_server's
        await super().cull_kernels()
