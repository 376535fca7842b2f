"""Operator jobs that span the services: retention and forgetting a customer (PIPL).

They import no service: they run each service's own ``python -m <service>.privacy`` command
(contracts/privacy.py), so each service deletes in its own store only (docs/data.md).
"""
