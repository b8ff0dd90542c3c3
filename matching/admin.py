"""Galleries in the admin: who has one, its subjects and how many faces each has. Never a vector:
no page shows a sealed embedding or key, and forgetting goes through the same service as /gallery/forget."""

import json

from django.contrib import admin
from django.db.models import Count

from facenition.admin import ReadOnlyModelAdmin, guarded_action

from .galleries import gallery_forget, gallery_subject_metadata
from .models import Face, Gallery, Subject
from .sealing import SealBroken


@admin.register(Gallery)
class GalleryAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "client", "subject_count", "face_count", "version", "created_at")
    list_filter = ("created_at",)
    search_fields = ("client__name", "client__credentials__prefix")
    fields = ("id", "client", "subject_count", "face_count", "version", "created_at")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("client")
            .annotate(subject_total=Count("subjects", distinct=True), face_total=Count("subjects__faces"))
        )

    @admin.display(description="subjects", ordering="subject_total")
    def subject_count(self, gallery):
        return gallery.subject_total

    @admin.display(description="faces", ordering="face_total")
    def face_count(self, gallery):
        return gallery.face_total


class FaceInline(admin.TabularInline):
    model = Face
    fields = (
        "id",
        "model_name",
        "detector_name",
        "descriptor",
        "box_left",
        "box_top",
        "box_width",
        "box_height",
        "quality",
        "created_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subject)
class SubjectAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "gallery_client", "face_count", "created_at")
    list_filter = ("created_at",)
    search_fields = ("name", "gallery__client__name", "gallery__client__credentials__prefix")
    fields = ("name", "gallery", "metadata", "face_count", "key_id", "created_at")
    inlines = [FaceInline]
    actions = ["forget_subjects"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).select_related("gallery__client", "key").annotate(face_total=Count("faces"))
        )

    @admin.display(description="client", ordering="gallery__client")
    def gallery_client(self, subject):
        return subject.gallery.client

    @admin.display(description="faces", ordering="face_total")
    def face_count(self, subject):
        return subject.face_total

    @admin.display(description="metadata")
    def metadata(self, subject):
        try:
            return json.dumps(gallery_subject_metadata(subject=subject), ensure_ascii=False)
        except SealBroken as broken:
            return f"does not open: {broken}"

    @admin.display(description="key wrapped under token key id")
    def key_id(self, subject):
        key = getattr(subject, "key", None)
        return key.key_id if key else "none"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_forget_permission(self, request):
        return request.user.has_perm("matching.delete_subject")

    @guarded_action(permission="forget", description="Forget selected subjects (their faces are deleted at once)")
    def forget_subjects(self, request, queryset):
        # The admin log names a forgotten subject by its row number only: its name goes with it.
        forgotten = []
        for subject in queryset.select_related("gallery__client"):
            gallery_forget(client=subject.gallery.client, subject=subject.name)
            forgotten.append(Subject(pk=subject.pk, name=f"forgotten subject #{subject.pk}"))
        self.act_on_each(
            request, forgotten, lambda subject: None, "Forgot {count} subject(s) and their faces.", "Forgot"
        )
