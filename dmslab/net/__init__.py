"""DICOM network: the receiver (Storage SCP), query/retrieve (SCU) and MPPS, writing to a durable inbox."""

from dmslab.net.inbox import Inbox, InboxFullError

__all__ = ["Inbox", "InboxFullError"]
