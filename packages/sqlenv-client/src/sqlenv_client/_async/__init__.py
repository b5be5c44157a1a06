"""The async client and its transports (twin of :mod:`sqlenv_client._sync`)."""
