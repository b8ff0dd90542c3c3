from rest_framework import serializers

from facenition.api.ratelimits import PerClientToken
from facenition.api.schema import ACCURACY, STAMP, STATUS_MEANING, answer, endpoint
from facenition.api.views import FacenitionViewSet
from matching.fields import AccuracyField
from matching.intake import images_from_request

from .services import enrollment_authenticate, enrollment_generate, enrollment_revoke, enrollment_rotate

IDENTITY_TOKEN = {"type": "string", "description": "An identity token (fit2_...) from /generate or /rotate."}
EXPIRES_IN = {"type": "integer", "minimum": 1, "description": "Seconds until the identity token expires."}
ISSUED = {
    "id": {"type": "string", "format": "uuid"},
    "token": IDENTITY_TOKEN,
    "accuracy": {"type": "integer"},
    "subject": {"type": "string"},
    "expires_at": STAMP,
}
TOKEN_STATE = {
    403: "The identity token was issued to another client, or it is locked after too many failures.",
    409: "The identity token was sealed under a token key this server no longer holds: keep it, ask the operator.",
    410: "The identity token was revoked or has expired.",
}


class EnrollmentViewSet(FacenitionViewSet):
    """`/generate`, `/authenticate`, `/revoke` and `/rotate`: identity tokens, nothing biometric stored."""

    throttle_classes = [PerClientToken]

    class GenerateInputSerializer(serializers.Serializer):
        accuracy = AccuracyField()
        subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        expires_in = serializers.IntegerField(min_value=1, required=False, default=None)

    class AuthenticateInputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=1000)
        accuracy = AccuracyField()

    class RevokeInputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=1000, required=False, default="")
        id = serializers.UUIDField(required=False, default=None)

    class RotateInputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=1000)
        accuracy = AccuracyField(default=None)
        expires_in = serializers.IntegerField(min_value=1, required=False, default=None)

    @staticmethod
    def _issued(enrollment, token):
        return {
            "id": str(enrollment.id),
            "token": token,
            "accuracy": enrollment.accuracy,
            "subject": enrollment.subject,
            "expires_at": enrollment.expires_at.isoformat(),
        }

    @endpoint(
        summary="Make an identity token from photos of one person (3 or more recommended)",
        fields={"accuracy": ACCURACY, "subject": {"type": "string", "maxLength": 200}, "expires_in": EXPIRES_IN},
        images=("image",),
        ok_status=201,
        ok=answer(ISSUED),
        tags=["identity tokens"],
    )
    def generate(self, request, *args, **kwargs):
        data = self._input(self.GenerateInputSerializer, request)
        enrollment, token = enrollment_generate(
            client=request.auth.client, images=images_from_request(request, "image"), **data
        )
        return self.ok(self._issued(enrollment, token), status=201)

    @endpoint(
        summary="Check live photos against an identity token",
        fields={"token": IDENTITY_TOKEN, "accuracy": ACCURACY},
        required=("token",),
        images=("image",),
        ok=answer({"authenticated": {"type": "boolean"}, "id": {"type": "string", "format": "uuid"}}),
        errors=TOKEN_STATE,
        tags=["identity tokens"],
    )
    def authenticate(self, request, *args, **kwargs):
        data = self._input(self.AuthenticateInputSerializer, request)
        result = enrollment_authenticate(
            client=request.auth.client, images=images_from_request(request, "image"), **data
        )
        return self.ok({"authenticated": result.authenticated, "id": str(result.enrollment.id)})

    @endpoint(
        summary="Revoke an identity token, by the token or its id",
        fields={"token": IDENTITY_TOKEN, "id": {"type": "string", "format": "uuid"}},
        ok=answer({"id": {"type": "string", "format": "uuid"}, "revoked_at": STAMP}),
        errors={403: "The enrollment belongs to another client.", 409: TOKEN_STATE[409], 410: STATUS_MEANING[410]},
        tags=["identity tokens"],
    )
    def revoke(self, request, *args, **kwargs):
        data = self._input(self.RevokeInputSerializer, request)
        enrollment = enrollment_revoke(client=request.auth.client, token=data["token"], enrollment_id=data["id"])
        assert enrollment.revoked_at is not None  # enrollment_revoke sets it; the field's type cannot say so
        return self.ok({"id": str(enrollment.id), "revoked_at": enrollment.revoked_at.isoformat()})

    @endpoint(
        summary="Authenticate and replace an identity token with a fresh one committed to the live photos",
        fields={"token": IDENTITY_TOKEN, "accuracy": ACCURACY, "expires_in": EXPIRES_IN},
        required=("token",),
        images=("image",),
        ok=answer({**ISSUED, "replaces": {"type": "string", "format": "uuid"}}),
        errors={**TOKEN_STATE, 403: "The face does not match, or the token is another client's or locked."},
        tags=["identity tokens"],
    )
    def rotate(self, request, *args, **kwargs):
        data = self._input(self.RotateInputSerializer, request)
        enrollment, token = enrollment_rotate(
            client=request.auth.client, images=images_from_request(request, "image"), **data
        )
        return self.ok({**self._issued(enrollment, token), "replaces": str(enrollment.rotated_from_id)})
