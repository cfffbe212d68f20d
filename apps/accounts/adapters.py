from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter

from apps.accounts.selectors import brand_get


class AccountAdapter(DefaultAccountAdapter):
    """allauth, in the firm's brand: its e-mails carry the brand's name and support address."""

    def send_mail(self, template_prefix, email, context):
        context = {**context, "brand": brand_get()}
        return super().send_mail(template_prefix, email, context)

    def format_email_subject(self, subject):
        return f"[{brand_get().name}] {subject}"
