"""Contracts between the deployables, one module per thing they describe.

- ``service``: Raptor's error body, identity, readiness and request lookup.
- ``trading``: Raptor's trading API (orders, positions, account, halt) as callers read it.
- ``board``: the release board the gate writes into the ledger.

Import from the module, not from this package: it re-exports nothing.
"""
