"""The ledger, enforced by the database.

- Adding an entry adds its amount to the account's balance and records `balance_after`, in
  the same statement: an account's balance is, by construction, the sum of its entries.
- Nothing else may change a balance: a direct UPDATE of `balance` is refused.
- Entries are immutable: updates and deletes are refused.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION trading_ledger_apply() RETURNS trigger AS $$
BEGIN
    UPDATE trading_tradingaccount SET balance = balance + NEW.amount
     WHERE id = NEW.account_id
    RETURNING balance INTO NEW.balance_after;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledger entry for a missing account %', NEW.account_id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trading_ledger_apply BEFORE INSERT ON trading_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION trading_ledger_apply();

CREATE OR REPLACE FUNCTION trading_ledger_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are immutable: post a correcting entry instead';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trading_ledger_immutable BEFORE UPDATE OR DELETE ON trading_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION trading_ledger_immutable();

CREATE OR REPLACE FUNCTION trading_balance_guard() RETURNS trigger AS $$
BEGIN
    -- Depth 1 is a statement from outside; the ledger trigger's own UPDATE runs at depth 2.
    IF NEW.balance IS DISTINCT FROM OLD.balance AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'a balance changes only through a ledger entry';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trading_balance_guard BEFORE UPDATE ON trading_tradingaccount
    FOR EACH ROW EXECUTE FUNCTION trading_balance_guard();

CREATE OR REPLACE FUNCTION trading_balance_starts_at_zero() RETURNS trigger AS $$
BEGIN
    IF NEW.balance <> 0 THEN
        RAISE EXCEPTION 'an account opens with a zero balance; its capital is a ledger entry';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trading_balance_starts_at_zero BEFORE INSERT ON trading_tradingaccount
    FOR EACH ROW EXECUTE FUNCTION trading_balance_starts_at_zero();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS trading_ledger_apply ON trading_ledgerentry;
DROP TRIGGER IF EXISTS trading_ledger_immutable ON trading_ledgerentry;
DROP TRIGGER IF EXISTS trading_balance_guard ON trading_tradingaccount;
DROP TRIGGER IF EXISTS trading_balance_starts_at_zero ON trading_tradingaccount;
DROP FUNCTION IF EXISTS trading_ledger_apply();
DROP FUNCTION IF EXISTS trading_ledger_immutable();
DROP FUNCTION IF EXISTS trading_balance_guard();
DROP FUNCTION IF EXISTS trading_balance_starts_at_zero();
"""


class Migration(migrations.Migration):
    dependencies = [("trading", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
