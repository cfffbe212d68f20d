"""The live risk engine (`manage.py run_risk_engine [--shard i/n]`).

- book.py       the shard's accounts as arrays; the vectorised revaluation and floor screen (pure)
- accounts.py   holding accounts: rebuilt from PostgreSQL, rules engines restored from checkpoints
- loop.py       the frame loop: screen, confirm, halt a batch, hand evaluations over, push
- pool.py       evaluation threads calling the rules engine's writer (evaluation_sync)
- snapshot.py   an account's live snapshot (exact Decimals)
- aggregate.py  the shard's partial firm aggregate, their sum, the latest sum from Redis
- shard.py      which accounts a process holds

Batch enforcement is apps/risk/enforcement.py; the Channels groups are apps/risk/push.py.
This package's __init__ imports nothing, so book.py loads without Django (the benchmarks).
"""
