"""Release actions the console asks the gate for, through the ledger (the gate carries them out)."""

from __future__ import annotations

from raxx.common.contracts.views import View

#: The console inserts a request (``via = 'console'``, ``status = 'pending'``) and reads
#: where its requests stand; the gate's request runner works on the table behind it.
RELEASE_REQUEST_VIEW = View(
    "release_request_v1",
    "ledger -> console",
    "id uuid, action character varying, app character varying, environment character varying,"
    " release_id character varying, actor character varying, note text, via character varying,"
    " via_request_id character varying, requested_at timestamp with time zone, status character varying,"
    " code character varying, detail text, exit_code integer",
    privileges=("SELECT", "INSERT"),
)
