from __future__ import annotations

from django.db import migrations

# Same numbers as stats.counters (COUNTER_SLOTS, Metric); copied: migrations must not change
# when the code does.
SLOTS = 32
METRICS = ("users", "orders_count", "orders_total_cents")


def create_slots(apps, schema_editor):
    CounterSlot = apps.get_model("stats", "CounterSlot")
    CounterSlot.objects.using(schema_editor.connection.alias).bulk_create(
        [CounterSlot(metric=m, slot=s, value=0) for m in METRICS for s in range(SLOTS)],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("stats", "0002_counter_slots")]

    operations = [migrations.RunPython(create_slots, migrations.RunPython.noop)]
