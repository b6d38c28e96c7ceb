"""A broker channel that outlives its transport still puts its unacknowledged jobs back when it
closes (config/broker.py). kombu clears the transport's client when its connection closes; with
Celery 5.7 a broker reset then ended the worker with AttributeError('NoneType' object has no
attribute 'hostname') in the channel's restore (issue #13, defect 3)."""

from __future__ import annotations

import kombu
import redis

from tests.servers import throwaway_redis

QUEUE = "channel-close-restore"


def test_a_channel_whose_transport_lost_its_client_restores_its_unacked_job_on_close():
    with throwaway_redis() as server:
        port = server.connection_pool.connection_kwargs["port"]
        url = f"redis://127.0.0.1:{port}/3"
        broker = redis.Redis(port=port, db=3)
        with kombu.Connection(url, transport="config.broker:Transport") as connection:
            channel = connection.channel()
            queue = kombu.Queue(QUEUE, routing_key=QUEUE)
            kombu.Producer(channel).publish({"job": 1}, routing_key=QUEUE, declare=[queue])
            message = channel.basic_get(QUEUE, no_ack=False)
            assert message is not None
            assert broker.llen(QUEUE) == 0  # taken: only the unacked index holds it
            assert broker.hlen("unacked") == 1

            channel.connection.client = None  # what closing the kombu Connection does
            channel.close()

            assert broker.llen(QUEUE) == 1  # back on its queue, nothing lost
            assert broker.hlen("unacked") == 0
