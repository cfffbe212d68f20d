"""Finance's reports: the payout register (CSV, XLSX), a trader's payout statement (PDF) and
yearly tax summary (CSV, PDF). Every figure is a payout's own, and a payout's gross profit is
its ledger entry's amount, so the reports agree with the ledger to the cent."""
