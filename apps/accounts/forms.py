from __future__ import annotations

from django import forms

from apps.accounts.models import PayoutMethod, TraderProfile
from apps.accounts.services import AccountsError, logo_content_type


class ProfileForm(forms.ModelForm):
    class Meta:
        model = TraderProfile
        fields = [
            "legal_name",
            "country",
            "tax_id",
            "payout_method",
            "payout_usdc_address",
            "payout_bank_reference",
        ]
        help_texts = {"legal_name": "As on your identity document; payouts are made to this name."}

    def clean(self):
        data = super().clean()
        method = data.get("payout_method")
        if method == PayoutMethod.USDC and not data.get("payout_usdc_address"):
            self.add_error("payout_usdc_address", "Enter the USDC address payouts should go to.")
        if method == PayoutMethod.BANK and not data.get("payout_bank_reference"):
            self.add_error(
                "payout_bank_reference", "Enter the bank reference payouts should go to."
            )
        return data


class BrandAdminForm(forms.ModelForm):
    logo_upload = forms.FileField(
        required=False, help_text="PNG, JPEG, GIF, WebP or SVG, at most 512 KB."
    )
    clear_logo = forms.BooleanField(required=False, label="Remove the current logo")

    def clean_logo_upload(self):
        upload = self.cleaned_data.get("logo_upload")
        if upload:
            try:
                logo_content_type(upload.read())
            except AccountsError as exc:
                raise forms.ValidationError(str(exc)) from None
            upload.seek(0)
        return upload
