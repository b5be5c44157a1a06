"""The blocking client and its transports (twin of :mod:`sqlenv_client._async`)."""
