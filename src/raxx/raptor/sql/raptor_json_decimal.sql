-- raptor_json_decimal
--
-- A decimal as the API writes it: plain, without trailing zeros (``wire.plain_decimal``).
-- Used by raptor_orders_render.
--
-- As it stands at head: last defined by migration r20261127_0003
-- (src/raxx/raptor/migrations/versions/20261127_0003_fast_paths.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION raptor_json_decimal(value numeric) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$ SELECT trim_scale(value)::text $fn$;
