"""The receiver's TCP front door: connection slots per address, deadlines before and after association, PDU caps.

pynetdicom's server takes a slot (a thread, counted against ``maximum_associations``) for every TCP connection
before any check, waits up to ``acse_timeout`` for the A-ASSOCIATE-RQ, blocks without deadline on a PDU that
trickles in (its sockets have no timeout), does the TLS handshake in the accepting thread, and reads whatever PDU
length the peer declares into memory. :class:`GuardedServer` (a subclass passed to ``AE.make_server``, no pynetdicom
global is changed) instead:

* refuses a connection at accept time when its IP address already holds ``max_associations_per_address``
  connections or the server ``max_associations`` (the socket is closed at once);
* gives a new connection ``acse_timeout_s`` in all to finish the TLS handshake and send its A-ASSOCIATE-RQ, then
  closes it — a silent or trickling stranger holds a slot for seconds, not forever;
* gives each later PDU ``network_timeout_s`` to arrive once begun (pynetdicom's idle timer aborts associations
  idle that long), and closes the connection on a PDU longer than the negotiated maximum (P-DATA) or 1 MiB (others);
* streams C-STORE data sets to the inbox (:mod:`dmslab.net._upload`), and deletes what an association left
  unfinished when it ends;
* runs each association's DUL reactor event-driven (:mod:`dmslab.net._reactor`) instead of polling, without
  pynetdicom's per-message debug dumps unless its logger is at DEBUG.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pynetdicom import evt
from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

from dmslab.config import ReceiverSettings
from dmslab.errors import ConfigError
from dmslab.net._reactor import drop_debug_log_handlers, use_event_dul
from dmslab.net._upload import StreamingDimse
from dmslab.net.inbox import Inbox
from dmslab.net.status import StatusFile

__all__ = ["GuardedServer", "ReceivePolicy", "check_exposure", "is_loopback"]

logger = logging.getLogger(__name__)

_MAX_OTHER_PDU = 1024 * 1024  # A-ASSOCIATE-RQ with ~120 presentation contexts is ~20 KB
_P_DATA_SLACK = 1024
_LOG_EVERY_S = 10.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is only reachable from this machine."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_exposure(receiver: ReceiverSettings) -> None:
    """Refuse to listen beyond this machine with no allow-list, unless ``allow_any`` says so explicitly.

    Raises
    ------
    ConfigError
        When ``bind_address`` is not a loopback address, ``allowed_aets`` is empty and ``allow_any`` is false.
    """
    if receiver.allowed_aets or receiver.allow_any or is_loopback(receiver.bind_address):
        return
    raise ConfigError(f"refusing to listen on {receiver.bind_address!r} with no allow-list: any AE could store "
                      "objects. Set allowed_aets (--allow CT_ROOM1 ...), bind to 127.0.0.1, or pass --allow-any "
                      "(allow_any = true) to accept any calling AE title on purpose")


@dataclass(frozen=True, slots=True)
class ReceivePolicy:
    """What a :class:`GuardedServer` enforces, and where it writes (injected by :class:`dmslab.net.scp.Receiver`)."""

    receiver: ReceiverSettings
    inbox: Inbox
    status: StatusFile


class _Slots:
    """Connections held, per peer address and in all."""

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address, self.total = per_address, total
        self._held: Counter[str] = Counter()
        self.taken = self.refused = self.peak = 0  # connections accepted, refused, most held at once
        self._lock = threading.Lock()
        self._logged: dict[str, float] = {}

    def take(self, host: str) -> str | None:
        """Take a slot for ``host``; ``None`` when taken, else why not."""
        with self._lock:
            held = sum(self._held.values())
            if self._held[host] >= self.per_address:
                self.refused += 1
                return f"{host} already holds {self.per_address} connection(s) (max_associations_per_address)"
            if held >= self.total:
                self.refused += 1
                return f"{self.total} connections are open (max_associations)"
            self._held[host] += 1
            self.taken += 1
            self.peak = max(self.peak, held + 1)
            return None

    def give(self, host: str) -> None:
        with self._lock:
            self._held[host] -= 1
            if self._held[host] <= 0:
                del self._held[host]

    def held(self) -> dict[str, int]:
        with self._lock:
            return dict(self._held)

    def should_log(self, host: str) -> bool:
        """At most one warning per address every 10 s (a flood of refusals must not flood the log)."""
        now = time.monotonic()
        with self._lock:
            if now - self._logged.get(host, -_LOG_EVERY_S) < _LOG_EVERY_S:
                return False
            if len(self._logged) > 1000:
                self._logged.clear()
            self._logged[host] = now
            return True


class _GuardedSocket(AssociationSocket):
    """An acceptor socket whose reads have deadlines and whose PDUs have a maximum length."""

    def __init__(self, assoc: Any, client_socket: socket.socket, *, opened_at: float, receiver: ReceiverSettings,
                 max_pdu: int) -> None:
        super().__init__(assoc, client_socket=client_socket)
        self._opened_at, self._receiver, self._max_pdu = opened_at, receiver, max_pdu
        self._header_next = True
        self._pdu_type = 0
        self._deadline = 0.0
        client_socket.settimeout(receiver.network_timeout_s)  # sends, too, cannot block forever

    def _limit(self) -> int:
        if self._pdu_type == 0x04 and self._max_pdu:
            return self._max_pdu + _P_DATA_SLACK
        return _MAX_OTHER_PDU if self._pdu_type != 0x04 else 1 << 32

    def recv(self, nr_bytes: int) -> bytearray:
        """Read ``nr_bytes`` before the deadline of the current PDU; fewer (which pynetdicom treats as a closed
        connection) when the deadline passes, the peer closes, or the PDU is longer than allowed."""
        header, self._header_next = self._header_next, not self._header_next
        if header:
            established = self.assoc.is_established
            self._deadline = (time.monotonic() + self._receiver.network_timeout_s if established
                              else self._opened_at + self._receiver.acse_timeout_s)
        elif nr_bytes > self._limit():
            logger.warning("closing connection from %s: PDU of %d bytes (type 0x%02X) is longer than allowed (%d)",
                           self.assoc.requestor.address, nr_bytes, self._pdu_type, self._limit())
            return bytearray()
        data = self._read(nr_bytes)
        if header and data:
            self._pdu_type = data[0]
        return data

    def _read(self, nr_bytes: int) -> bytearray:
        sock = self.socket
        assert sock is not None
        out = bytearray()
        while len(out) < nr_bytes:
            left = self._deadline - time.monotonic()
            if left <= 0:
                phase = "association" if not self.assoc.is_established else "a PDU"
                logger.warning("closing connection from %s: %s not received in time", self.assoc.requestor.address,
                               phase)
                return out
            sock.settimeout(left)
            try:
                chunk = sock.recv(min(65536, nr_bytes - len(out)))
            except TimeoutError:
                continue
            if not chunk:
                return out
            out += chunk
        return out


class _GuardedHandler(RequestHandler):
    """One connection: TLS handshake within the association deadline, our socket and DIMSE provider, then the
    association runs in this thread's care until it ends (so that its slot is held exactly that long)."""

    server: GuardedServer
    _opened_at = 0.0

    def handle(self) -> None:
        opened_at = time.monotonic()
        policy = self.server.policy
        raw: socket.socket = self.request
        if self.server.ssl_context is not None:
            raw.settimeout(policy.receiver.acse_timeout_s)
            try:
                self.request = self.server.ssl_context.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError) as exc:
                logger.warning("TLS handshake with %s failed: %s", self.client_address[0], exc)
                raw.close()
                return
        self._opened_at = opened_at
        assoc = self._create_association()
        dimse = assoc.dimse = StreamingDimse(assoc, policy.inbox, policy.receiver.max_object_bytes)
        try:
            evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
            assoc.start()
            assoc.join()
        finally:
            self.request.close()
            left = dimse.discard_all()
            if left:
                logger.info("association from %s ended: %d unfinished object(s) deleted", self.client_address[0],
                            left)

    def _create_association(self) -> Any:
        assoc = super()._create_association()
        plain = assoc.dul.socket
        assert plain is not None and plain.socket is not None
        assoc.dul.socket = None  # set_socket refuses to replace a socket
        use_event_dul(assoc)  # a new DUL provider: the Evt5 the replaced socket queued stays in the old one's queue
        guarded = _GuardedSocket(assoc, plain.socket, opened_at=self._opened_at, receiver=self.server.policy.receiver,
                                 max_pdu=self.ae.maximum_pdu_size)
        plain.socket = None
        assoc.set_socket(guarded)
        drop_debug_log_handlers(assoc)
        return assoc


class GuardedServer(ThreadedAssociationServer):
    """pynetdicom's threaded association server with per-address slots and deadlines (see the module docstring).

    Made by ``AE.make_server(address, server_class=GuardedServer, request_handler=..., policy=...)``.
    """

    daemon_threads = True  # stop() does not wait for associations (as with pynetdicom's server)
    block_on_close = False
    request_queue_size = 128  # listen backlog (socketserver's 5 lets a burst of connects stall a modality's SYN)

    def __init__(self, *args: Any, policy: ReceivePolicy, **kwargs: Any) -> None:
        self.policy = policy
        self.slots = _Slots(policy.receiver.max_associations_per_address, policy.receiver.max_associations)
        kwargs["request_handler"] = _GuardedHandler
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept only: the TLS handshake is done by the connection's own thread, within its deadline."""
        assert self.socket is not None
        return self.socket.accept()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Take a slot for the peer's address, or refuse the connection (socketserver then closes it)."""
        why = self.slots.take(client_address[0])
        if why is None:
            return True
        if self.slots.should_log(client_address[0]):
            logger.warning("connection from %s refused: %s", client_address[0], why)
        self.policy.status.count("connections_refused", last="last_refused_at")
        return False

    def process_request(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request(request, client_address)
        except BaseException:  # the thread did not start: its slot is free again
            self.slots.give(client_address[0])
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.give(client_address[0])
            self.shutdown_request(request)
