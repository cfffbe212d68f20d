"""A published rule set or plan cannot be edited, by the admin or by code: the database says so.

On `challenges_ruleset` and `challenges_plan`, an UPDATE of a published or retired row is
refused unless it only retires a published row (status published -> retired, with its
`retired_at`); a draft changes freely but is never retired directly; a DELETE of anything but
a draft is refused. An UPDATE that changes nothing passes (there is nothing to protect).

On `challenges_planphase`, a phase of a plan that is not a draft cannot be added, changed or
removed. The trigger reads the plan's status FOR SHARE, so a phase written while the plan is
being published waits for that transaction and then sees the published status.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION challenges_version_immutable() RETURNS trigger AS $$
DECLARE
    what text := TG_ARGV[0];
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION '% % v% is %: only a draft can be deleted',
                what, OLD.code, OLD.version, OLD.status;
        END IF;
        RETURN OLD;
    END IF;
    IF to_jsonb(NEW) = to_jsonb(OLD) THEN
        RETURN NEW;
    END IF;
    IF OLD.status = 'draft' THEN
        IF NEW.status = 'retired' THEN
            RAISE EXCEPTION '% % v% is a draft: publish or delete it, it cannot be retired',
                what, OLD.code, OLD.version;
        END IF;
        RETURN NEW;
    END IF;
    IF OLD.status = 'published' AND NEW.status = 'retired'
       AND (to_jsonb(NEW) - 'status' - 'retired_at') = (to_jsonb(OLD) - 'status' - 'retired_at')
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% % v% is %: it cannot be edited, by the admin or by code (make a new draft)',
        what, OLD.code, OLD.version, OLD.status;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER challenges_ruleset_immutable
    BEFORE UPDATE OR DELETE ON challenges_ruleset
    FOR EACH ROW EXECUTE FUNCTION challenges_version_immutable('rule set');

CREATE TRIGGER challenges_plan_immutable
    BEFORE UPDATE OR DELETE ON challenges_plan
    FOR EACH ROW EXECUTE FUNCTION challenges_version_immutable('plan');

CREATE OR REPLACE FUNCTION challenges_planphase_immutable() RETURNS trigger AS $$
DECLARE
    plan_row record;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT code, version, status INTO plan_row
            FROM challenges_plan WHERE id = OLD.plan_id FOR SHARE;
        IF FOUND AND plan_row.status <> 'draft' THEN
            RAISE EXCEPTION 'plan % v% is %: its phases cannot be changed (make a new draft)',
                plan_row.code, plan_row.version, plan_row.status;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT code, version, status INTO plan_row
            FROM challenges_plan WHERE id = NEW.plan_id FOR SHARE;
        IF FOUND AND plan_row.status <> 'draft' THEN
            RAISE EXCEPTION 'plan % v% is %: its phases cannot be changed (make a new draft)',
                plan_row.code, plan_row.version, plan_row.status;
        END IF;
        RETURN NEW;
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER challenges_planphase_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON challenges_planphase
    FOR EACH ROW EXECUTE FUNCTION challenges_planphase_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS challenges_planphase_immutable ON challenges_planphase;
DROP FUNCTION IF EXISTS challenges_planphase_immutable();
DROP TRIGGER IF EXISTS challenges_plan_immutable ON challenges_plan;
DROP TRIGGER IF EXISTS challenges_ruleset_immutable ON challenges_ruleset;
DROP FUNCTION IF EXISTS challenges_version_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("challenges", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
