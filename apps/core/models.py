from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One append-only audit row (a database trigger refuses updates and deletes).

    `before`, `after` and the actor's id are hashed into the subject's chain; `personal`
    holds personal data for the reader (a name, an address) and is not hashed, so it can
    be erased without breaking the chain.
    """

    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    seq = models.PositiveIntegerField()
    action = models.CharField(max_length=100)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=100, blank=True, help_text="system, a process name")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    personal = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["subject_type", "subject_id", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id", "seq"], name="audit_one_event_per_seq"
            ),
        ]
        indexes = [models.Index(fields=["action", "at"]), models.Index(fields=["at"])]

    def __str__(self) -> str:
        return f"{self.subject_type}:{self.subject_id}#{self.seq} {self.action}"


class IdempotencyRecord(models.Model):
    """The first answer to a write sent with an Idempotency-Key, replayed for its repeats."""

    scope = models.CharField(max_length=64, help_text="Whose key space, e.g. user:12")
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_once"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
