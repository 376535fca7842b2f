"""Several Rasa replicas share the widget's socket.io rooms through Redis: what one replica
pushes (an agent's reply relayed through its HTTP API) reaches a widget connected to another.
The delivery itself is checked with real replicas and Redis by `make test-scale`."""
from __future__ import annotations

from socketio import AsyncRedisManager

from bot.channels.widget import client_manager


def test_replicas_share_rooms_through_the_redis_of_the_production_profile() -> None:
    manager = client_manager({"REDIS_URL": "redis://:secret@127.0.0.1:26379/0"})
    assert isinstance(manager, AsyncRedisManager)
    assert manager.redis_url == "redis://:secret@127.0.0.1:26379/0"
    own = client_manager({"REDIS_URL": "redis://127.0.0.1:1/0",
                          "WIDGET_SOCKET_REDIS_URL": "redis://127.0.0.1:2/0"})
    assert own.redis_url == "redis://127.0.0.1:2/0"


def test_one_process_keeps_its_rooms_in_memory() -> None:
    assert client_manager({}) is None
