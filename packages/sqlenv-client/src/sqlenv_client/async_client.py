"""The asynchronous client (kept as an import path; it lives in :mod:`sqlenv_client._async.client`)."""

from sqlenv_client._async.client import AsyncSQLEnvClient

__all__ = ["AsyncSQLEnvClient"]
