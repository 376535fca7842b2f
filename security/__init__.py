"""Hostile-input probe of every public HTTP and socket.io endpoint (docs/security-probe.md)."""
