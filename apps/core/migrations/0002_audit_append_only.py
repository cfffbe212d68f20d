"""The audit log is append-only, enforced by the database itself.

Updates are refused unless they only blank the `personal` column (erasure of a person);
deletes are always refused. A DBA who disables the trigger to tamper with a row is still
caught by `manage.py audit_verify`, which recomputes every chain.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION core_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the audit log is append-only: events cannot be deleted';
    END IF;
    IF (to_jsonb(NEW) - 'personal') IS DISTINCT FROM (to_jsonb(OLD) - 'personal')
       OR NEW.personal <> '{}'::jsonb THEN
        RAISE EXCEPTION 'the audit log is append-only: only personal data may be erased';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER core_auditevent_append_only
    BEFORE UPDATE OR DELETE ON core_auditevent
    FOR EACH ROW EXECUTE FUNCTION core_auditevent_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent;
DROP FUNCTION IF EXISTS core_auditevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
