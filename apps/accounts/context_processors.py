from __future__ import annotations

from apps.accounts.selectors import brand_get


def brand(request) -> dict:
    return {"brand": brand_get()}
