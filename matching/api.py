import json

from rest_framework import serializers

from facenition.api import parsers
from facenition.api.ratelimits import PerClientToken
from facenition.api.schema import ACCURACY, BOX, FACE_BOX, STAMP, answer, component, endpoint
from facenition.api.views import FacenitionViewSet

from .fields import AccuracyField
from .galleries import (
    MAX_CANDIDATES,
    gallery_enroll,
    gallery_forget,
    gallery_identify,
    gallery_subjects,
    owner_of,
)
from .intake import images_from_request
from .services import faces_match


class MatchViewSet(FacenitionViewSet):
    """`/match`: is the person in `image` the person in `reference`? Nothing is stored."""

    throttle_classes = [PerClientToken]

    class InputSerializer(serializers.Serializer):
        accuracy = AccuracyField()

    @endpoint(
        summary="Is the person in `image` the person in `reference`? (1:1, nothing stored)",
        fields={"accuracy": ACCURACY},
        images=("image", "reference"),
        ok=answer(
            {
                "match": {"type": "boolean"},
                "accuracy": {"type": "integer"},
                "max_accuracy": {"type": "integer", "minimum": 0, "maximum": 8},
                "faces": {
                    "type": "object",
                    "properties": {side: {"type": "array", "items": BOX} for side in ("image", "reference")},
                },
            }
        ),
        tags=["faces"],
    )
    def match(self, request, *args, **kwargs):
        data = self._input(self.InputSerializer, request)
        images = images_from_request(request, "image")
        references = images_from_request(request, "reference")
        result = faces_match(images=images, references=references, accuracy=data["accuracy"])
        return self.ok(
            {
                "match": result.match,
                "accuracy": result.accuracy,
                "max_accuracy": result.max_accuracy,
                "faces": result.faces,
            }
        )


class MetadataField(serializers.Field):
    """A JSON object, sent as one (JSON body) or as its text (a multipart or form field), its text
    read by the JSON body's own rules."""

    default_error_messages = {"invalid": "must be a JSON object of at most 4,000 characters."}
    MAX_CHARACTERS = 4000

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = parsers.loads(data)
            except parsers.JSONRefused as refused:
                raise serializers.ValidationError(str(refused)) from None
        if not isinstance(data, dict) or len(json.dumps(data)) > self.MAX_CHARACTERS:
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


SUBJECT = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "description": "Your own id for the person.",
    "example": "user-42",
}
CANDIDATE = component(
    "Candidate",
    {
        "type": "object",
        "required": ["subject", "max_accuracy"],
        "properties": {
            "subject": {"type": "string", "example": "user-42"},
            "max_accuracy": {"type": "integer", "minimum": 1, "maximum": 8, "example": 5},
        },
    },
)
FACE_ID = {"type": "string", "format": "uuid"}
# Far beyond any gallery, and its offset (page × page_size) well inside PostgreSQL's 64-bit OFFSET.
MAX_PAGE = 1_000_000_000


class GalleryViewSet(FacenitionViewSet):
    """`/gallery/enroll`, `/gallery/identify`, `/gallery/subjects`, `/gallery/forget`: 1:N
    identification over the client's own gallery of people."""

    throttle_classes = [PerClientToken]

    class EnrollInputSerializer(serializers.Serializer):
        subject = serializers.CharField(max_length=200)
        metadata = MetadataField(required=False, default=None)

    class IdentifyInputSerializer(serializers.Serializer):
        accuracy = AccuracyField()
        limit = serializers.IntegerField(min_value=1, max_value=MAX_CANDIDATES, required=False, default=1)

    class SubjectsInputSerializer(serializers.Serializer):
        page = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, required=False, default=1)
        page_size = serializers.IntegerField(min_value=1, max_value=500, required=False, default=50)

    class ForgetInputSerializer(serializers.Serializer):
        subject = serializers.CharField(max_length=200, required=False, default="")
        face = serializers.UUIDField(required=False, default=None)

    @endpoint(
        summary="Enroll photos of one person as a subject of your gallery (1:N identification)",
        fields={
            "subject": SUBJECT,
            "metadata": {
                "type": "object",
                "description": "A JSON object (in a form: its JSON text), at most 4,000 characters.",
            },
        },
        required=("subject",),
        images=("image",),
        ok_status=201,
        ok=answer(
            {
                "subject": {"type": "string"},
                "faces": {"type": "integer", "description": "The subject's face count."},
                "added": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "box"],
                        "properties": {"id": FACE_ID, "box": FACE_BOX},
                    },
                },
            }
        ),
        tags=["galleries"],
    )
    def enroll(self, request, *args, **kwargs):
        data = self._input(self.EnrollInputSerializer, request)
        enrolled = gallery_enroll(client=owner_of(request.auth), images=images_from_request(request, "image"), **data)
        return self.ok(
            {
                "subject": enrolled.subject.name,
                "faces": enrolled.face_count,
                "added": [{"id": str(face.id), "box": face.box()} for face in enrolled.added],
            },
            status=201,
        )

    @endpoint(
        summary="Who is each face in the photo? Candidates from your gallery, scored 1:N",
        fields={
            "accuracy": ACCURACY,
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_CANDIDATES, "default": 1},
        },
        images=("image",),
        ok=answer(
            {
                "accuracy": {"type": "integer"},
                "subjects": {"type": "integer", "description": "How many subjects the gallery holds."},
                "scoring": {
                    "type": "string",
                    "description": "How the gallery's size shaped the threshold: the level's target holds for "
                    "the whole gallery, so each subject must match more closely than /match asks.",
                },
                "faces": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["box", "candidates"],
                        "properties": {
                            "box": FACE_BOX,
                            "candidates": {
                                "type": "array",
                                "items": CANDIDATE,
                            },
                        },
                    },
                },
            }
        ),
        tags=["galleries"],
    )
    def identify(self, request, *args, **kwargs):
        data = self._input(self.IdentifyInputSerializer, request)
        result = gallery_identify(client=owner_of(request.auth), images=images_from_request(request, "image"), **data)
        return self.ok(
            {
                "accuracy": result.accuracy,
                "subjects": result.gallery_subjects,
                "scoring": result.scoring,
                "faces": [{"box": face.box, "candidates": face.candidates} for face in result.faces],
            }
        )

    @endpoint(
        summary="Your gallery's subjects with their face counts, a page at a time",
        fields={
            "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
        },
        ok=answer(
            {
                "page": {"type": "integer"},
                "page_size": {"type": "integer"},
                "total": {"type": "integer"},
                "subjects": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["subject", "faces", "face_ids", "metadata", "created_at"],
                        "properties": {
                            "subject": {"type": "string"},
                            "faces": {"type": "integer"},
                            "face_ids": {"type": "array", "items": FACE_ID},
                            "metadata": {"type": "object"},
                            "created_at": STAMP,
                        },
                    },
                },
            }
        ),
        errors={503: None},
        tags=["galleries"],
    )
    def subjects(self, request, *args, **kwargs):
        data = self._input(self.SubjectsInputSerializer, request)
        total, rows = gallery_subjects(client=owner_of(request.auth), **data)
        return self.ok(
            {
                "page": data["page"],
                "page_size": data["page_size"],
                "total": total,
                "subjects": [
                    {
                        "subject": row.subject.name,
                        "faces": row.subject.face_count,  # type: ignore[attr-defined]  # annotated by the query (Count)
                        "face_ids": [str(face_id) for face_id in row.face_ids],
                        "metadata": row.metadata,
                        "created_at": row.subject.created_at.isoformat(),
                    }
                    for row in rows
                ],
            }
        )

    @endpoint(
        summary="Forget a subject, or one face by its id: deleted at once",
        fields={"subject": SUBJECT, "face": FACE_ID},
        ok=answer(
            {
                "subject": {"type": "string"},
                "deleted": {
                    "type": "object",
                    "required": ["subjects", "faces"],
                    "properties": {"subjects": {"type": "integer"}, "faces": {"type": "integer"}},
                },
            }
        ),
        tags=["galleries"],
    )
    def forget(self, request, *args, **kwargs):
        data = self._input(self.ForgetInputSerializer, request)
        forgotten = gallery_forget(client=owner_of(request.auth), subject=data["subject"], face_id=data["face"])
        return self.ok(
            {"subject": forgotten.subject, "deleted": {"subjects": forgotten.subjects, "faces": forgotten.faces}}
        )
