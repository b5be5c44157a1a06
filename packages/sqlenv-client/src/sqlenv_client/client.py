"""The synchronous client (kept as an import path; it lives in :mod:`sqlenv_client._sync.client`)."""

from sqlenv_client._shared.settings import DEFAULT_URL
from sqlenv_client._sync.client import SQLEnvClient

__all__ = ["DEFAULT_URL", "SQLEnvClient"]
