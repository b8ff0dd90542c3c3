import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from facenition.api import parsers
from facenition.api.ratelimits import PerClientToken
from facenition.api.schema import Answer, Stamp, endpoint
from facenition.api.views import FacenitionViewSet

from .accuracy import MAX_ACCURACY, MIN_ACCURACY
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


class FaceBoxSerializer(serializers.Serializer):
    """Where a face is, in the photo's own pixels."""

    left = serializers.IntegerField(style={"example": 412})
    top = serializers.IntegerField(style={"example": 96})
    width = serializers.IntegerField(style={"example": 230})
    height = serializers.IntegerField(style={"example": 231})

    class Meta:
        ref_name = "FaceBox"


class PhotoFacesSerializer(serializers.Serializer):
    """A photo's face count and its largest face's box, in pixels."""

    faces = serializers.IntegerField(source="face_count", style={"example": 1})
    box = FaceBoxSerializer(source="face.box")

    class Meta:
        ref_name = "PhotoFaces"


class CandidateSerializer(serializers.Serializer):
    subject = serializers.CharField(style={"example": "user-42"})
    max_accuracy = serializers.IntegerField(
        min_value=MIN_ACCURACY,
        max_value=MAX_ACCURACY,
        style={"example": 5},
        help_text="The strictest level at which this subject is a match, scored 1:N.",
    )

    class Meta:
        ref_name = "Candidate"


class MatchViewSet(FacenitionViewSet):
    """`/match`: is the person in `image` the person in `reference`? Nothing is stored."""

    throttle_classes = [PerClientToken]

    class InputSerializer(serializers.Serializer):
        accuracy = AccuracyField()

    class OutputSerializer(Answer):
        class FacesSerializer(serializers.Serializer):
            image = PhotoFacesSerializer(source="image_faces", many=True)
            reference = PhotoFacesSerializer(source="reference_faces", many=True)

        match = serializers.BooleanField()
        accuracy = serializers.IntegerField()
        # 0: no level matches.
        max_accuracy = serializers.IntegerField(min_value=0, max_value=MAX_ACCURACY)
        faces = FacesSerializer(source="*")

    @endpoint(
        summary="Is the person in `image` the person in `reference`? (1:1, nothing stored)",
        input=InputSerializer,
        images=("image", "reference"),
        output=OutputSerializer,
        tags=["faces"],
    )
    def match(self, request, *args, **kwargs):
        data = self._input(self.InputSerializer, request)
        images = images_from_request(request, "image")
        references = images_from_request(request, "reference")
        result = faces_match(images=images, references=references, accuracy=data["accuracy"])
        return self.ok(self.OutputSerializer(result))


@extend_schema_field(
    {"type": "object", "description": "A JSON object (in a form: its JSON text), at most 4,000 characters."}
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


SUBJECT_HELP = "Your own id for the person."
# Far beyond any gallery, and its offset (page × page_size) well inside PostgreSQL's 64-bit OFFSET.
MAX_PAGE = 1_000_000_000


class GalleryViewSet(FacenitionViewSet):
    """`/gallery/enroll`, `/gallery/identify`, `/gallery/subjects`, `/gallery/forget`: 1:N
    identification over the client's own gallery of people."""

    throttle_classes = [PerClientToken]

    class EnrollInputSerializer(serializers.Serializer):
        subject = serializers.CharField(
            min_length=1, max_length=200, help_text=SUBJECT_HELP, style={"example": "user-42"}
        )
        metadata = MetadataField(required=False, default=None)

    class EnrollOutputSerializer(Answer):
        class AddedSerializer(serializers.Serializer):
            id = serializers.UUIDField()
            box = FaceBoxSerializer()

        subject = serializers.CharField(source="subject.name")
        faces = serializers.IntegerField(source="face_count", help_text="The subject's face count.")
        added = AddedSerializer(many=True)

    class IdentifyInputSerializer(serializers.Serializer):
        accuracy = AccuracyField()
        limit = serializers.IntegerField(min_value=1, max_value=MAX_CANDIDATES, required=False, default=1)

    class IdentifyOutputSerializer(Answer):
        class FaceSerializer(serializers.Serializer):
            box = FaceBoxSerializer()
            candidates = CandidateSerializer(many=True)

        accuracy = serializers.IntegerField()
        subjects = serializers.IntegerField(source="gallery_subjects", help_text="How many subjects the gallery holds.")
        scoring = serializers.CharField(
            help_text="How the gallery's size shaped the threshold: the level's target holds for the whole "
            "gallery, so each subject must match more closely than /match asks."
        )
        faces = FaceSerializer(many=True)

    class SubjectsInputSerializer(serializers.Serializer):
        page = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, required=False, default=1)
        page_size = serializers.IntegerField(min_value=1, max_value=500, required=False, default=50)

    class SubjectsOutputSerializer(Answer):
        class SubjectSerializer(serializers.Serializer):
            subject = serializers.CharField(source="subject.name")
            faces = serializers.IntegerField(source="face_count")
            face_ids = serializers.ListField(child=serializers.UUIDField())
            metadata = serializers.DictField()
            created_at = Stamp(source="subject.created_at")

        page = serializers.IntegerField()
        page_size = serializers.IntegerField()
        total = serializers.IntegerField()
        subjects = SubjectSerializer(many=True)

    class ForgetInputSerializer(serializers.Serializer):
        subject = serializers.CharField(
            max_length=200, required=False, default="", help_text=SUBJECT_HELP, style={"example": "user-42"}
        )
        face = serializers.UUIDField(required=False, default=None)

    class ForgetOutputSerializer(Answer):
        class DeletedSerializer(serializers.Serializer):
            subjects = serializers.IntegerField()
            faces = serializers.IntegerField()

        subject = serializers.CharField()
        deleted = DeletedSerializer(source="*")

    @endpoint(
        summary="Enroll photos of one person as a subject of your gallery (1:N identification)",
        input=EnrollInputSerializer,
        images=("image",),
        output=EnrollOutputSerializer,
        status=201,
        tags=["galleries"],
    )
    def enroll(self, request, *args, **kwargs):
        data = self._input(self.EnrollInputSerializer, request)
        enrolled = gallery_enroll(client=owner_of(request.auth), images=images_from_request(request, "image"), **data)
        return self.ok(self.EnrollOutputSerializer(enrolled), status=201)

    @endpoint(
        summary="Who is each face in the photo? Candidates from your gallery, scored 1:N",
        input=IdentifyInputSerializer,
        images=("image",),
        output=IdentifyOutputSerializer,
        tags=["galleries"],
    )
    def identify(self, request, *args, **kwargs):
        data = self._input(self.IdentifyInputSerializer, request)
        result = gallery_identify(client=owner_of(request.auth), images=images_from_request(request, "image"), **data)
        return self.ok(self.IdentifyOutputSerializer(result))

    @endpoint(
        summary="Your gallery's subjects with their face counts, a page at a time",
        input=SubjectsInputSerializer,
        output=SubjectsOutputSerializer,
        errors={503: None},
        tags=["galleries"],
    )
    def subjects(self, request, *args, **kwargs):
        data = self._input(self.SubjectsInputSerializer, request)
        total, listed = gallery_subjects(client=owner_of(request.auth), **data)
        return self.ok(self.SubjectsOutputSerializer({**data, "total": total, "subjects": listed}))

    @endpoint(
        summary="Forget a subject, or one face by its id: deleted at once",
        input=ForgetInputSerializer,
        output=ForgetOutputSerializer,
        tags=["galleries"],
    )
    def forget(self, request, *args, **kwargs):
        data = self._input(self.ForgetInputSerializer, request)
        forgotten = gallery_forget(client=owner_of(request.auth), subject=data["subject"], face_id=data["face"])
        return self.ok(self.ForgetOutputSerializer(forgotten))
