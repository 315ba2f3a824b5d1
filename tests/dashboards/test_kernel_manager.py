"""The kernel manager under Voila's pool: a kernel that waited in the pool longer than the cull time is not culled
when a visitor takes it (the 404 "Kernel does not exist" of issue 13), while other idle kernels still are."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
from types import SimpleNamespace

import pytest

kernelmanager = pytest.importorskip("jupyter_server.services.kernels.kernelmanager")

from dmslab.dashboards._kernel_manager import PoolAwareKernelManager  # noqa: E402

CULL_S = 600



def _run_fresh(coro):
    """``asyncio.run`` in a thread of its own: a browser test earlier on this pytest worker may have left an event
    loop running in the main thread (Playwright's sync API), where ``asyncio.run`` refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()

def _kernel(idle_s: float) -> SimpleNamespace:
    """What jupyter_server's culler reads of a kernel, last active ``idle_s`` ago."""
    return SimpleNamespace(last_activity=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=idle_s),
                           execution_state="idle", kernel_name="python3", kernel_spec=SimpleNamespace(metadata={}))


async def _handed_out_after_waiting(manager_class, tmp_path) -> list[str]:
    """The kernels culled: one waited 700 s in the pool and is taken between two culler passes, another is idle
    700 s outside any pool."""
    km = manager_class(root_dir=str(tmp_path), cull_idle_timeout=CULL_S)
    culled: list[str] = []

    async def shutdown(kernel_id, *args, **kwargs):
        culled.append(kernel_id)
        del km._kernels[kernel_id]

    km.shutdown_kernel = shutdown
    km._kernels.update({"pooled": _kernel(700), "abandoned": _kernel(700)})
    ready = asyncio.get_running_loop().create_future()
    ready.set_result({"kernel_id": "pooled"})
    km._pools = {"overview.ipynb": [ready]}  # what Voila's pool holds
    await km.cull_kernels()  # a pass while the kernel waits in the pool (Voila's subclass skips pooled kernels)
    km._pools["overview.ipynb"].pop(0)  # a visitor takes it; its page connects a few seconds later
    await km.cull_kernels()  # the next pass, before the page has connected
    return culled


def test_jupyter_servers_manager_culls_the_handed_out_kernel(tmp_path):
    """The reference: with jupyter_server's manager the kernel just handed out is culled."""
    culled = _run_fresh(_handed_out_after_waiting(kernelmanager.AsyncMappingKernelManager, tmp_path))
    assert sorted(culled) == ["abandoned", "pooled"]


def test_pooled_kernels_count_as_active(tmp_path):
    assert _run_fresh(_handed_out_after_waiting(PoolAwareKernelManager, tmp_path)) == ["abandoned"]
