"""Host and pubsub settings that guard against py-libp2p defaults which lose messages."""

from __future__ import annotations

from libp2p.pubsub.pb import rpc_pb2

from protocol import records
from protocol.node.host import message_id


def test_gossip_message_id_is_the_record_id_not_sender_and_seqno() -> None:
    # A restarted node's seqno counter restarts at the current second, so two different
    # records can carry the same (from, seqno); they must still count as different messages.
    a = rpc_pb2.Message(from_id=b"peer", seqno=(42).to_bytes(8, "big"), data=b"record one")
    b = rpc_pb2.Message(from_id=b"peer", seqno=(42).to_bytes(8, "big"), data=b"record two")
    assert message_id(a) != message_id(b)
    assert message_id(a) == records.record_id(b"record one")
    # The same record forwarded by someone else is the same message.
    c = rpc_pb2.Message(from_id=b"other", seqno=(7).to_bytes(8, "big"), data=b"record one")
    assert message_id(a) == message_id(c)
