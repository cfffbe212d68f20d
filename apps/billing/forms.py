from __future__ import annotations

from django import forms
from django_countries import countries


class CheckoutForm(forms.Form):
    country = forms.ChoiceField(
        label="Country of residence",
        help_text="Where you live. The firm does not sell to every country.",
    )
    discount_code = forms.CharField(
        label="Discount code", max_length=40, required=False, help_text="Optional."
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    retry = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].choices = [("", "Choose your country…"), *countries]
        self.fields["discount_code"].widget.attrs.update(
            {"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        )
