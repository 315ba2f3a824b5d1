"""The kernel client Voila's notebook executor uses: jupyter_client's asyncio client whose sends re-arm pyzmq's
wake-up, so that a reply arriving during a send is not left unread (the "Executing N of M" stall).

The stall, measured (issue 13): the page stops at "Executing N of M", the kernel is idle and has run the cell (its
Output widget and chart exist), and the server's executor waits forever in ``shell_channel.get_msg()`` although the
``execute_reply`` is in its socket (``EVENTS & POLLIN``); waking the socket's handler alone completes the page.

Why: nbclient waits for the reply with ``await socket.poll()`` (a pyzmq asyncio future woken when the socket's
``ZMQ_FD`` becomes readable). While it waits, nbclient's Output-widget mirror sends ``comm_msg`` updates on the same
shell channel, and ``jupyter_client.Session.send`` sends them raw on a blocking shadow of the asyncio socket. A raw
send runs libzmq's command processing, which consumes the edge-triggered ``ZMQ_FD`` signal of a reply that arrived
meanwhile; pyzmq's bookkeeping never sees that send, so nothing re-checks ``EVENTS`` and the waiter sleeps forever
(no execution timeout is set). The narrower the gap between reply and send, the rarer: a busy machine widens it.
Upstream: voila-dashboards/voila#1428, jupyter/nbclient#311, jupyter/jupyter_client#1010 and #1059 (all open); the
kernel-side twin was ipython/ipykernel#1554 (fixed by #1529, in ipykernel 7.4).

The fix: after the raw send, read ``EVENTS`` through the asyncio socket. pyzmq's ``_AsyncSocket.get(EVENTS)``
schedules its waiting futures when an event is pending, which is what its own sends do.
"""

from __future__ import annotations

from typing import Any

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

__all__ = ["WakefulChannel", "WakefulKernelClient"]


class WakefulChannel(AsyncZMQSocketChannel):
    """An asyncio channel whose :meth:`send` leaves no reply unread: it re-arms the socket's waiters after the raw
    send of ``Session.send``."""

    def send(self, msg: dict[str, Any]) -> None:
        """Send ``msg``, then let the socket's pending ``poll``/``recv`` futures see a reply that came meanwhile."""
        super().send(msg)
        self.socket.get(zmq.EVENTS)  # _AsyncSocket.get(EVENTS) schedules waiters for pending events


class WakefulKernelClient(AsyncKernelClient):
    """:class:`jupyter_client.asynchronous.AsyncKernelClient` with :class:`WakefulChannel` for every channel that
    sends (shell, control, stdin)."""

    shell_channel_class = Type(WakefulChannel)
    control_channel_class = Type(WakefulChannel)
    stdin_channel_class = Type(WakefulChannel)

