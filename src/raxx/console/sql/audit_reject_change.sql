-- audit_reject_change
--
-- Makes the audit tables append-only: the triggers below reject UPDATE, DELETE and
-- TRUNCATE on audit_event and audit_checkpoint, for every role.
--
-- As it stands at head: last defined by migration c20261126_0003_audit
-- (src/raxx/console/migrations/versions/20261126_0003_audit.py).
-- A change: edit this file, then a new migration that executes a copy of this text (README.md in this folder).
CREATE OR REPLACE FUNCTION audit_reject_change() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

-- Both tables, every role: no UPDATE or DELETE of a row, no TRUNCATE.
CREATE OR REPLACE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE OR REPLACE TRIGGER audit_checkpoint_no_update_delete BEFORE DELETE OR UPDATE ON audit_checkpoint FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE OR REPLACE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE OR REPLACE TRIGGER audit_event_no_update_delete BEFORE DELETE OR UPDATE ON audit_event FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
