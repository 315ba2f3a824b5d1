"""The kernel client of Voila's executor (the "Executing N of M" stall of issue 13): a reply that reaches the
client while it sends on the same channel must still wake the coroutine waiting for it.

The scenario, on loopback ZMQ sockets and without a kernel: a client waits in ``get_msg()``; the peer's reply
arrives; the reply's ``ZMQ_FD`` signal is consumed by a raw operation on the socket (what ``Session.send`` does: it
sends on a blocking shadow of the asyncio socket); then the client sends. jupyter_client's channel never wakes the
waiter (the stall, reproduced here as the reference); dmslab's does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time

import pytest

pytest.importorskip("zmq")
pytest.importorskip("jupyter_client")
import zmq
import zmq.asyncio
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.session import Session
from traitlets.config import Config
from traitlets.config.loader import KVArgParseConfigLoader

from dmslab._kernel_client import WakefulChannel, WakefulKernelClient
from dmslab.dashboards import DashboardOptions, new_token, voila_argv

LIVENESS_S = 30.0  # a guard only: the reply is already in the socket, a woken waiter takes one loop iteration
STUCK_S = 1.0  # how long a waiter that nothing will ever wake is watched



def _run_fresh(coro):
    """``asyncio.run`` in a thread of its own: a browser test earlier on this pytest worker may have left an event
    loop running in the main thread (Playwright's sync API), where ``asyncio.run`` refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()

async def _reply_during_send(channel_class: type[AsyncZMQSocketChannel]) -> tuple[bool, list[str]]:
    """Whether the waiter got the reply, and the message types the peer received."""
    session = Session()
    sync_ctx, async_ctx = zmq.Context(), zmq.asyncio.Context()
    router = sync_ctx.socket(zmq.ROUTER)
    dealer = async_ctx.socket(zmq.DEALER)
    try:
        port = router.bind_to_random_port("tcp://127.0.0.1")
        dealer.connect(f"tcp://127.0.0.1:{port}")
        channel = channel_class(dealer, session)
        channel.send(session.msg("kernel_info_request"))
        assert router.poll(LIVENESS_S * 1000), "the peer got no request"
        identity, _ = session.feed_identities(router.recv_multipart())
        waiter = asyncio.ensure_future(channel.get_msg(timeout=None))
        await asyncio.sleep(0.05)  # the waiter polls the socket now
        session.send(router, "kernel_info_reply", ident=identity)
        shadow = zmq.Socket.shadow(dealer.underlying)  # a raw operation, as Session.send does, eats the signal
        deadline = time.monotonic() + LIVENESS_S
        while not shadow.get(zmq.EVENTS) & zmq.POLLIN:
            assert time.monotonic() < deadline, "the reply never reached the client"
            time.sleep(0.01)
        channel.send(session.msg("comm_msg", {"comm_id": "c", "data": {}}))
        done, _ = await asyncio.wait({waiter}, timeout=LIVENESS_S if channel_class is WakefulChannel else STUCK_S)
        got = bool(done) and waiter.result()["msg_type"] == "kernel_info_reply"
        waiter.cancel()
        received = []
        while router.poll(LIVENESS_S * 1000 if not received else 0):  # the send reaches the peer
            received.append(session.deserialize(session.feed_identities(router.recv_multipart())[1])["msg_type"])
        return got, received
    finally:
        dealer.close(linger=0)
        router.close(linger=0)
        async_ctx.term()
        sync_ctx.term()


def test_jupyter_clients_channel_loses_the_wakeup():
    """The reference: jupyter_client's own channel leaves the reply unread (if this fails, jupyter_client or pyzmq
    fixed it and WakefulKernelClient can go)."""
    got, received = _run_fresh(_reply_during_send(AsyncZMQSocketChannel))
    assert received == ["comm_msg"] and not got


def test_wakeful_channel_gets_the_reply():
    got, received = _run_fresh(_reply_during_send(WakefulChannel))
    assert received == ["comm_msg"] and got


def test_voila_executor_gets_the_wakeful_client():
    """``dmslab dashboard``'s Voila command line makes jupyter_server's kernel managers (whose ``client()`` is what
    nbclient, and so Voila's executor, uses) hand out :class:`WakefulKernelClient`."""
    kernelmanager = pytest.importorskip("jupyter_server.services.kernels.kernelmanager")
    flags = [a for a in voila_argv(DashboardOptions(token=new_token())) if a.startswith("--")]
    config = KVArgParseConfigLoader(flags).load_config()
    km = kernelmanager.ServerKernelManager(config=Config(config))
    client = km.client()
    assert type(client) is WakefulKernelClient
    assert {type(c) for c in (client.shell_channel, client.control_channel, client.stdin_channel)} == {WakefulChannel}
    assert type(kernelmanager.ServerKernelManager().client()) is not WakefulKernelClient  # only with the flag
    manager = "dmslab.dashboards._kernel_manager.PoolAwareKernelManager"
    assert config.VoilaConfiguration.multi_kernel_manager_class == manager


def test_the_reports_papermill_runs_use_the_wakeful_client_too():
    """papermill's nbclient waits for replies as Voila's executor does (a dashboard notebook run by papermill
    stalled the same way under load): the reports' kernel manager hands out the same client."""
    from dmslab.reporting.report import _kernel_manager

    assert _kernel_manager({"X": "1"})().client_factory is WakefulKernelClient
