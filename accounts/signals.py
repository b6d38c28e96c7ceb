"""Signals accounts sends to the apps that follow users; accounts imports none of them.

Both are sent inside the transaction that writes the change, so a receiver that writes
(syncqueue's outbox capture, connected in `SyncqueueConfig.ready()`) commits or rolls back
with it. A receiver that raises fails the write: capture is never silently skipped.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent by `User.save()` when provider-tracked fields (SYNC_TRACKED_FIELDS) changed, inside the
# save's atomic(). Arguments: user (saved, pk set), changed_fields (sorted names), is_creation.
tracked_fields_changed = Signal()

# Sent by `accounts.services.users_bulk_update` after one bulk UPDATE of tracked fields, in its
# transaction. Arguments: user_ids (the users whose tracked fields changed), using (DB alias).
tracked_fields_bulk_changed = Signal()
