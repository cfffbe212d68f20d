from tests.portal.support import market, run_commits, trader  # noqa: F401
