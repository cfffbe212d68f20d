"""The one default fee schedule at Hyperliquid's base tier, so fills always have rates."""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations


def create_default(apps, schema_editor):
    FeeSchedule = apps.get_model("market", "FeeSchedule")
    if not FeeSchedule.objects.filter(is_default=True).exists():
        FeeSchedule.objects.create(
            name="Hyperliquid base tier",
            taker_rate=Decimal("0.00045"),
            maker_rate=Decimal("0.00015"),
            is_default=True,
            # A migration runs outside the app clock; the machine's UTC time is the honest one.
            updated_at=datetime.now(UTC),
        )


class Migration(migrations.Migration):
    dependencies = [("market", "0001_initial")]

    operations = [migrations.RunPython(create_default, migrations.RunPython.noop)]
