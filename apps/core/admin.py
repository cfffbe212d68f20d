from __future__ import annotations

from django.contrib import admin

from apps.core.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log, read-only: nobody edits or deletes history, in the admin or elsewhere."""

    list_display = ["at", "action", "subject_type", "subject_id", "seq", "actor", "actor_label"]
    list_filter = ["action", "subject_type"]
    search_fields = ["subject_id", "action", "actor__email"]
    date_hierarchy = "at"
    list_select_related = ["actor"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
