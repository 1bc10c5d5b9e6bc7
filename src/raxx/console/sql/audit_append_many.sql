-- audit_append_many
--
-- audit_append for several events in one transaction (one WAL flush for a batch).
-- EXECUTE is revoked from PUBLIC and granted to the runtime role by that migration.
--
-- As it stands at head: last defined by migration c20261126_0003_audit
-- (src/raxx/console/migrations/versions/20261126_0003_audit.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION audit_append_many(p_bodies text[]) RETURNS TABLE (
    seq bigint, hash text, recorded_at timestamp with time zone
)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $fn$
DECLARE
    body text;
BEGIN
    FOREACH body IN ARRAY p_bodies LOOP
        RETURN QUERY SELECT * FROM audit_append(body);
    END LOOP;
END
$fn$;
