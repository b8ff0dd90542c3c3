from rest_framework import serializers

from facenition.api.fields import AccuracyField
from facenition.api.images import images_from_request
from facenition.api.ratelimits import PerClientToken
from facenition.api.schema import ACCURACY, BOX, answer, endpoint
from facenition.api.views import FacenitionViewSet

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
