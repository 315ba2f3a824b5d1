"""DICOM network: the receiver (Storage SCP), query/retrieve (SCU) and MPPS, writing to a durable inbox."""

from dmslab.net.inbox import Inbox, InboxFullError
from dmslab.net.scp import LoopbackSummary, Receiver, Retry, SendResult, send_and_ingest_over_dicom, send_files
from dmslab.net.status import status_lines
from dmslab.net.worker import IngestWorker

__all__ = [
    "Inbox",
    "InboxFullError",
    "IngestWorker",
    "LoopbackSummary",
    "Receiver",
    "Retry",
    "SendResult",
    "send_and_ingest_over_dicom",
    "send_files",
    "status_lines",
]
