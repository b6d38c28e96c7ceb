"""The Redis broker transport, with a visibility timeout per queue.

kombu's Redis transport redelivers a message a consumer took but never acknowledged (its
worker was SIGKILLed or lost power) once it has been unacknowledged for `visibility_timeout`,
one value for every queue. That value must exceed the longest job plus the longest retry
countdown anywhere (a worker holds an ETA job unacknowledged until it is due), so short jobs of
a dead worker used to wait an hour. Here each queue can have its own, shorter timeout
(CELERY_QUEUE_VISIBILITY_TIMEOUT_SECONDS): when a message is taken, its entry in kombu's
unacked index is dated back by the difference, so the transport's own periodic sweep
(`restore_visible`, under its mutex) redelivers it after the queue's timeout. Nothing else
changes: acknowledgement, restore at shutdown and the keys are kombu's.
"""

from __future__ import annotations

import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps


class QoS(kombu_redis.QoS):
    channel: Channel  # always the Channel below (Channel.QoS), which carries the timeouts

    def append(self, message: Any, delivery_tag: str) -> None:
        delivery = message.delivery_info
        exchange, routing_key = delivery["exchange"], delivery["routing_key"]
        score = time.time()
        queue_seconds = self.channel.queue_visibility_timeouts.get(routing_key)
        if queue_seconds and queue_seconds < self.visibility_timeout:
            score -= self.visibility_timeout - queue_seconds
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: score}).hset(
                self.unacked_key, delivery_tag, dumps([message._raw, exchange, routing_key])
            ).execute()
            virtual.QoS.append(self, message, delivery_tag)


class Channel(kombu_redis.Channel):
    QoS = QoS
    #: queue name (Celery routes with routing key = queue name) -> seconds
    queue_visibility_timeouts: dict[str, int] = {}  # kombu sets it per channel (options)
    from_transport_options = (
        *kombu_redis.Channel.from_transport_options,
        "queue_visibility_timeouts",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._last_connparams: dict[bool, dict[str, Any]] = {}
        super().__init__(*args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        # kombu clears the transport's `client` when its Connection closes the transport. When
        # the broker resets a worker's connection, Celery 5.7 closes the consumer's connection,
        # and its channel, which outlived that transport, rebuilds a pool to put its unacked
        # jobs back: the AttributeError that followed is no connection error, so nothing
        # caught it and the worker exited ("Unrecoverable error"). The channel keeps the
        # parameters it last used; the restore then fails (or succeeds) as a connection does.
        if self.connection.client is None and asynchronous in self._last_connparams:
            return dict(self._last_connparams[asynchronous])
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]  # not in the kombu stubs
        self._last_connparams[asynchronous] = dict(params)
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel
