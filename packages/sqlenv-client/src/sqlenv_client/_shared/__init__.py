"""What the sync and async clients share: settings, episode bookkeeping, the wire, HTTP sessions."""
