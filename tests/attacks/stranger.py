"""What a stranger's py-libp2p peer does to push records at a member node that tells it nothing.

A member node announces a circle's topic only to that circle's members and relays, and
takes their subscriptions only (protocol/node/guard.py). A gossipsub that follows the rules
then never sends the node anything on that topic. A stranger need not follow them:
:func:`push_to` makes ``ps`` believe ``target`` subscribed to ``topic``, so that
``ps.publish(topic, ...)`` sends to it (as fanout, without a mesh), and the node's
validator, not gossipsub's manners, is what stands in the way.
"""

from __future__ import annotations

import trio
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub


async def push_to(ps: Pubsub, target: ID, topic: str, timeout: float = 15.0) -> None:
    with trio.fail_after(timeout):
        while target not in ps.peers:
            await trio.sleep(0.02)
    ps.handle_subscription(target, rpc_pb2.RPC.SubOpts(subscribe=True, topicid=topic))
