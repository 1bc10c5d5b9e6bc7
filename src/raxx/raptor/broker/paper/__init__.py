"""The built-in paper venue, in one place.

* ``venue.py``: ``PaperBroker``, the ``Broker`` protocol over the venue's tables;
* ``book.py``: its rules (buying power, positions, fills, cancels) as pure functions, the one
  specification (``tests/raptor/test_paper_spec.py`` holds the SQL placement to it);
* ``statements.py``: what it sends to PostgreSQL (the placement calls, reads and writes);
* ``pricing.py``: seeded price paths; ``endpoints.py``: ``/v1/paper/prices`` (pin a price);
* ``batching.py``: Raptor's submissions to the venue, batched into one database call.

Its tables are ``raxx.raptor.models.paper`` (with every model of Raptor's one metadata,
which Alembic reads). Raptor reaches the venue only through the ``Broker`` protocol,
except the fused placement (``batching``), which records Raptor's order in the same call.
"""
