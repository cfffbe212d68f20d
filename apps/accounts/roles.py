"""The firm's roles, as groups, with their permissions.

A permission is named `app_label.codename`; `app_label.*` grants every permission of an app
and `view:app_label.*` its view permissions. Apps built later grant their permissions here:
the groups are re-synced after every migration, so a new app's permissions reach its roles.
"""

from __future__ import annotations

TRADER = "trader"
RISK_MANAGER = "risk manager"
FINANCE = "finance"
FIRM_ADMIN = "firm admin"
STAFF_ROLES = (RISK_MANAGER, FINANCE, FIRM_ADMIN)

ROLE_PERMISSIONS: dict[str, list[str]] = {
    TRADER: [],
    RISK_MANAGER: [
        "accounts.view_user",
        "accounts.view_traderprofile",
        "view:core.*",
        "market.*",
        "trading.*",
        "view:challenges.*",
        "risk.*",
    ],
    FINANCE: [
        "accounts.view_user",
        "accounts.view_traderprofile",
        "accounts.review_kyc",
        "view:core.*",
        "view:trading.*",
        "view:challenges.*",
        "billing.*",
        "payouts.*",
    ],
    FIRM_ADMIN: [
        "accounts.*",
        "auth.view_group",
        "view:core.*",
        "market.*",
        "trading.*",
        "challenges.*",
        "risk.*",
        "billing.*",
        "payouts.*",
        "mfa.view_authenticator",
    ],
}


def _matches(spec: str, app_label: str, codename: str) -> bool:
    view_only = spec.startswith("view:")
    spec = spec.removeprefix("view:")
    spec_app, _, spec_code = spec.partition(".")
    if spec_app != app_label:
        return False
    if spec_code == "*":
        return not view_only or codename.startswith("view_")
    return spec_code == codename


def sync_roles(group_model, permission_model) -> None:
    """Create the role groups and give each exactly its permissions (idempotent).

    Takes the models as arguments so a migration can pass its historical ones.
    """
    permissions = list(permission_model.objects.select_related("content_type"))
    for role, specs in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = [
            p
            for p in permissions
            if any(_matches(s, p.content_type.app_label, p.codename) for s in specs)
        ]
        group.permissions.set(wanted)
