"""Alert keys follow one scheme, `<area>.<condition>[:<subject>]`: rename the keys of the
incidents already stored so an open alert keeps its state and cooldown across the deploy."""

from django.db import migrations

# old exact key or prefix → new
EXACT = {
    "high_error_rate": "requests.error_rate",
    "slow_response": "requests.slow",
    "sync_backlog": "sync.backlog",
    "sync_failures": "sync.failures",
}
PREFIXES = {"high_queue_size:": "queue.size:", "database:": "database.down:"}


def _renamed(key, exact, prefixes):
    if key is None:
        return None
    if key in exact:
        return exact[key]
    for old, new in prefixes.items():
        if key.startswith(old) and not key.startswith(new):
            return new + key[len(old) :]
    return key


def _rename(apps, exact, prefixes):
    AlertEvent = apps.get_model("monitoring", "AlertEvent")
    for event in AlertEvent.objects.all().only("pk", "key", "open_key").iterator():
        key = _renamed(event.key, exact, prefixes)
        open_key = _renamed(event.open_key, exact, prefixes)
        if (key, open_key) != (event.key, event.open_key):
            AlertEvent.objects.filter(pk=event.pk).update(key=key, open_key=open_key)


def forwards(apps, schema_editor):
    _rename(apps, EXACT, PREFIXES)


def backwards(apps, schema_editor):
    _rename(
        apps,
        {new: old for old, new in EXACT.items()},
        {new: old for old, new in PREFIXES.items()},
    )


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
