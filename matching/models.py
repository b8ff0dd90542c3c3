"""Galleries: the people a client enrolled for 1:N identification, and their faces' embeddings.

Only clients that call /gallery/enroll have one. No image is stored; each face keeps its embedding
sealed with AES-GCM under its subject's own data key, itself stored only wrapped under a sub-key of
the token key (`matching.sealing`), each bound to its own row: a dump of these tables reveals no
embedding, and deleting a subject's key erases every copy of its faces the database still holds. The search runs over a matrix in each worker's memory
(`matching.gallery_index`), kept fresh by the gallery's `version`.
"""

import secrets
import uuid

from django.db import models
from django.utils import timezone

# How many removed subjects a gallery remembers (by number only), so that a worker holding an older
# copy drops them without reloading the whole gallery; one that fell further behind reloads it all.
REMOVALS_KEPT = 1000
# How many versions' stamps a gallery remembers (8 hex digits each), so that a host's snapshot of an
# older version can be told to be of this gallery's history before the current one is made from it.
STAMPS_KEPT = 256
STAMP_DIGITS = 8


class Gallery(models.Model):
    """A client's gallery. Every change to its subjects or faces bumps `version`, in the same
    transaction, under a lock on this row."""

    # Deleted only with its client, which an operator does explicitly (credentials.services.client_delete).
    client = models.OneToOneField("credentials.Client", on_delete=models.CASCADE, related_name="gallery")
    version = models.PositiveBigIntegerField(default=0)
    # [[version, subject id], ...], oldest first: every subject removed after version `removals_from`.
    removals = models.JSONField(default=list, blank=True)
    removals_from = models.PositiveBigIntegerField(default=0)
    # A random stamp per version, the current version's last: a database restored to an earlier point
    # reuses version numbers, never their stamps, so a snapshot of the lost history is not trusted.
    stamps = models.TextField(default="", blank=True)
    # The face model of every face in it (matching.galleries.gallery_model); galleries from before the
    # model was recorded hold Dlib faces.
    model_name = models.CharField(max_length=40, default="Dlib")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "galleries"

    def __str__(self):
        return f"gallery of {self.client}"

    def record_change(self, removed_subject_ids=()):
        """Bumps the version; call it on a row locked with select_for_update, inside the change's transaction."""
        self.version += 1
        removals = [*self.removals, *([self.version, pk] for pk in removed_subject_ids)]
        if len(removals) > REMOVALS_KEPT:
            self.removals_from = removals[-REMOVALS_KEPT - 1][0]
            removals = removals[-REMOVALS_KEPT:]
        self.removals = removals
        self.stamps = (self.stamps + secrets.token_hex(STAMP_DIGITS // 2))[-STAMPS_KEPT * STAMP_DIGITS :]
        self.save(update_fields=["version", "removals", "removals_from", "stamps"])

    def stamp_at(self, version):
        """The random stamp the gallery's change to `version` was given: "" for a version from before
        stamps were kept, None when it is no longer remembered (or is ahead of the gallery)."""
        back = self.version - version
        if back < 0:
            return None
        start = len(self.stamps) - STAMP_DIGITS * (back + 1)
        if start < 0:
            return "" if len(self.stamps) < STAMPS_KEPT * STAMP_DIGITS else None
        return self.stamps[start : start + STAMP_DIGITS]

    def removals_since(self, version):
        """The ids of the subjects removed after `version`, or None when this gallery no longer
        remembers that far back (the caller then reloads everything)."""
        if version < self.removals_from:
            return None
        return [pk for changed, pk in self.removals if changed > version]


class Subject(models.Model):
    """One person in a gallery, named by the client's own id for them."""

    gallery = models.ForeignKey(Gallery, on_delete=models.CASCADE, related_name="subjects")
    name = models.CharField(max_length=200)
    # The client's JSON object about this person, sealed under the subject's key (matching.sealing).
    sealed_metadata = models.BinaryField(default=b"")
    created_at = models.DateTimeField(default=timezone.now)
    # The gallery version at which this subject's faces last changed: a worker refreshes what changed.
    changed_version = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["gallery", "name"], name="subject_name_unique_per_gallery")]
        indexes = [models.Index(fields=["gallery", "changed_version"])]

    def __str__(self):
        return self.name


class SubjectKey(models.Model):
    """A subject's data key, wrapped under a token key's gallery sub-key: the only copy of it. Its own
    table, so that the many updates of a subject's row do not leave more copies of it in dead rows."""

    subject = models.OneToOneField(Subject, on_delete=models.CASCADE, primary_key=True, related_name="key")
    # AES-GCM: 12-byte nonce, then the wrapped 32-byte key and its 16-byte tag.
    wrapped_key = models.BinaryField()
    # Which token key's gallery sub-key wrapped it (hex), so that a retired key can still open it.
    key_id = models.CharField(max_length=16)

    def __str__(self):
        return f"key of subject {self.subject_id}"


class Face(models.Model):
    """One enrolled photo's face: its sealed embedding and how it was read. No image."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="faces")
    # AES-GCM under the subject's key: 12-byte nonce, then the sealed float32 embedding and its 16-byte tag.
    sealed_embedding = models.BinaryField()
    model_name = models.CharField(max_length=40)
    detector_name = models.CharField(max_length=40)
    # Everything that decided the embedding (matching.pipeline.PipelineConfig.variant).
    descriptor = models.CharField(max_length=100, blank=True)
    box_left = models.IntegerField()
    box_top = models.IntegerField()
    box_width = models.PositiveIntegerField()
    box_height = models.PositiveIntegerField()
    # How sharp the face is (variance of its Laplacian at 150 px wide; the floor /match applies).
    quality = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self):
        return str(self.id)
