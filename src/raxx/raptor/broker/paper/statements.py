"""The paper broker's order placement as one SQL call (the function ``raptor_paper_place``).

Why one call: the account row is the venue's lock. Held across several round trips,
under load it is also held across event-loop turns of a busy process, and every order
queues behind it (measured: throughput fell as connections rose). As one call in
autocommit, the row is locked only while PostgreSQL runs it.

It applies the same rules as ``book.reserve`` followed by ``book.apply_fill`` (which the
periodic pass still uses for resting orders): a buy reserves quantity x (limit or
price) and is refused beyond buying power; a sell holds its shares and is refused
beyond the free position; a marketable order fills at the price, at most ``liquidity``
at a time. Refusals leave nothing behind: the call returns no row. The rules live in
migration r20261127_0005 (``raptor_paper_terms``, ``raptor_paper_settle``), shared with
Raptor's one-call submission (``raptor_submit_paper``).

Lock order is the account row, then the position row, everywhere (``raptor_paper_settle``,
``maintain`` and ``cancel``), so that a buy and a sell of one symbol cannot deadlock. Each
UPDATE rechecks its condition on the newest version of a row it waited for (READ
COMMITTED), so every check and sum uses current values.
"""

from __future__ import annotations

from sqlalchemy import text

# The statement itself is the function ``raptor_paper_place`` (migration r20261127_0005),
# which ``raptor_submit_paper`` calls too: the rules are written once.
PLACE_ORDER = text(
    "SELECT * FROM raptor_paper_place(CAST(:id AS uuid), :client_order_id, :symbol, :side, :type, :time_in_force, "
    "CAST(:quantity AS numeric), CAST(:limit_price AS numeric), CAST(:liquidity AS numeric), "
    "CAST(:path_price AS numeric), CAST(:now AS timestamptz), CAST(:now_iso AS text))"
)
