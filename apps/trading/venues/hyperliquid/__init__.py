"""The Hyperliquid venue: funded traders trade in sub-accounts of the firm's master accounts.

    config.py          settings, networks, agent keys (read from the environment or a file)
    signer.py          signing and recovery, by the official SDK's own functions
    budget.py          our share of the per-IP rate limit, a token bucket in Redis
    client.py          the SDK behind the budget, its failures as VenueError / VenueTimeout
    wire.py, ordering.py   pure: the venue's answers as protocol values, our orders as its
    selectors.py       reads; `hyperliquid_ready(account)`
    provisioning.py    requested -> created -> funded -> ready; the sub-account pool
    transfers.py       master <-> sub-account USDC, once per key
    venue.py           the venue protocol (`HyperliquidVenue`)
    polling.py         fills and funding of every sub-account, round-robin within the budget
    reconciliation.py  `positions_and_balances(master)`, one request per master

Only this package knows which venue an account uses; the rest of the platform asks the
venue protocol.
"""
