from django.contrib.admin.apps import AdminConfig


class PropfirmAdminConfig(AdminConfig):
    """Django's admin, on the firm's admin site (brand, two-factor required)."""

    default_site = "apps.accounts.admin_site.PropfirmAdminSite"
