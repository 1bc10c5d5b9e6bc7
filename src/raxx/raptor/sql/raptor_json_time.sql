-- raptor_json_time
--
-- A time as the API writes it (``wire.wire_time``): UTC with ``Z``, six fraction digits,
-- none on whole seconds. Used by raptor_orders_render.
-- Created by r20261127_0003 (IMMUTABLE); r20261127_0006 made it STABLE (ALTER FUNCTION): declared
-- IMMUTABLE around to_char (STABLE), PostgreSQL ran it as a call instead of inlining it.
--
-- As it stands at head: last defined by migration r20261127_0006
-- (src/raxx/raptor/migrations/versions/20261127_0006_paper_batches.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_json_time(value timestamp with time zone) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$
    SELECT to_char(value AT TIME ZONE 'UTC',
                   CASE WHEN extract(microseconds FROM value)::bigint % 1000000 = 0
                        THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)
$fn$;
