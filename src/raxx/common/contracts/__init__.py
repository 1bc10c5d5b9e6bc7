"""Contracts between the deployables, one module per thing they describe.

- ``service``: Raptor's error body, identity, readiness and request lookup.
- ``trading``: Raptor's trading API (orders, positions, account, halt) as callers read it.
- ``board``: the release board the gate writes into the ledger (and the view it is read through).
- ``release_requests``, ``health``: the ledger's other views the console uses.
- ``audit``: the console's audit trail as the gate reads it (a view).
- ``views``: what a contract view is (name, owner -> reader, columns, privileges).
- ``desired``: the deploy files between the gate's local platform and ``raxx up``.

Import from the module, not from this package: it re-exports nothing.
"""
