"""Fixtures for the client's own tests (the helpers live in ``client_helpers``)."""

from client_helpers import anyio_backend, reset_server, scripted_peer, shop

__all__ = ["anyio_backend", "reset_server", "scripted_peer", "shop"]
