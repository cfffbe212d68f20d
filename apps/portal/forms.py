from __future__ import annotations

from django import forms

KIND_CHOICES = [
    ("market", "Market"),
    ("limit", "Limit"),
    ("stop_market", "Stop market"),
    ("stop_limit", "Stop limit"),
]
TIF_CHOICES = [("gtc", "Good till cancelled"), ("ioc", "Immediate or cancel"), ("alo", "Post only")]
UNIT_CHOICES = [("coin", "Coin"), ("usd", "USD (margin)")]
PRICE = {"max_digits": 30, "decimal_places": 10, "min_value": 0}


class TicketForm(forms.Form):
    coin = forms.CharField(max_length=32)
    side = forms.ChoiceField(choices=[("buy", "Buy / long"), ("sell", "Sell / short")])
    kind = forms.ChoiceField(label="Order type", choices=KIND_CHOICES)
    size = forms.DecimalField(max_digits=30, decimal_places=10)
    unit = forms.ChoiceField(label="Size in", choices=UNIT_CHOICES, initial="coin")
    leverage = forms.IntegerField(min_value=1, max_value=200, initial=1)
    limit_price = forms.DecimalField(label="Limit price", required=False, **PRICE)
    trigger_price = forms.DecimalField(label="Trigger price", required=False, **PRICE)
    take_profit = forms.DecimalField(label="Take-profit", required=False, **PRICE)
    stop_loss = forms.DecimalField(label="Stop-loss", required=False, **PRICE)
    tif = forms.ChoiceField(label="Time in force", choices=TIF_CHOICES, required=False)
    reduce_only = forms.BooleanField(label="Reduce-only", required=False)
    idempotency_key = forms.CharField(max_length=64)

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind in ("limit", "stop_limit") and not data.get("limit_price"):
            self.add_error("limit_price", "A limit order needs a limit price.")
        if kind in ("stop_market", "stop_limit") and not data.get("trigger_price"):
            self.add_error("trigger_price", "A stop order needs a trigger price.")
        for name in ("limit_price", "trigger_price", "take_profit", "stop_loss"):
            if data.get(name) is not None and data[name] <= 0:
                self.add_error(name, "Prices are positive numbers.")
        return data
