from rest_framework import serializers

from facenition.api.ratelimits import PerClientToken
from facenition.api.schema import STATUS_MEANING, Answer, Stamp, endpoint
from facenition.api.views import FacenitionViewSet
from matching.fields import AccuracyField
from matching.intake import images_from_request

from .services import enrollment_authenticate, enrollment_generate, enrollment_revoke, enrollment_rotate

IDENTITY_TOKEN = "An identity token (fit2_...) from /generate or /rotate."
EXPIRES_IN = "Seconds until the identity token expires."
TOKEN_STATE = {
    403: "The identity token was issued to another client, or it is locked after too many failures.",
    409: "The identity token was sealed under a token key this server no longer holds: keep it, ask the operator.",
    410: "The identity token was revoked or has expired.",
}


# An identity token just issued, from an `IssuedEnrollment`: /generate's answer, and /rotate's with `replaces`.
class IssuedSerializer(Answer):
    id = serializers.UUIDField(source="enrollment.id")
    token = serializers.CharField(help_text=IDENTITY_TOKEN)
    accuracy = serializers.IntegerField(source="enrollment.accuracy")
    subject = serializers.CharField(source="enrollment.subject")
    expires_at = Stamp(source="enrollment.expires_at")


class EnrollmentViewSet(FacenitionViewSet):
    """`/generate`, `/authenticate`, `/revoke` and `/rotate`: identity tokens, nothing biometric stored."""

    throttle_classes = [PerClientToken]

    class GenerateInputSerializer(serializers.Serializer):
        accuracy = AccuracyField()
        subject = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        expires_in = serializers.IntegerField(min_value=1, required=False, default=None, help_text=EXPIRES_IN)

    class AuthenticateInputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=1000, help_text=IDENTITY_TOKEN)
        accuracy = AccuracyField()

    class AuthenticateOutputSerializer(Answer):
        authenticated = serializers.BooleanField()
        id = serializers.UUIDField(source="enrollment.id")

    class RevokeInputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=1000, required=False, default="", help_text=IDENTITY_TOKEN)
        id = serializers.UUIDField(required=False, default=None)

    class RevokeOutputSerializer(Answer):
        id = serializers.UUIDField()
        revoked_at = Stamp()

    class RotateInputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=1000, help_text=IDENTITY_TOKEN)
        accuracy = AccuracyField(
            default=None, help_text="The identity token's own level, if sent at all: another one is refused."
        )
        expires_in = serializers.IntegerField(min_value=1, required=False, default=None, help_text=EXPIRES_IN)

    class RotateOutputSerializer(IssuedSerializer):
        replaces = serializers.UUIDField(source="enrollment.rotated_from_id")

    @endpoint(
        summary="Make an identity token from photos of one person (3 or more recommended)",
        input=GenerateInputSerializer,
        images=("image",),
        output=IssuedSerializer,
        status=201,
        tags=["identity tokens"],
    )
    def generate(self, request, *args, **kwargs):
        data = self._input(self.GenerateInputSerializer, request)
        issued = enrollment_generate(client=request.auth.client, images=images_from_request(request, "image"), **data)
        return self.ok(IssuedSerializer(issued), status=201)

    @endpoint(
        summary="Check live photos against an identity token",
        input=AuthenticateInputSerializer,
        images=("image",),
        output=AuthenticateOutputSerializer,
        errors=TOKEN_STATE,
        tags=["identity tokens"],
    )
    def authenticate(self, request, *args, **kwargs):
        data = self._input(self.AuthenticateInputSerializer, request)
        result = enrollment_authenticate(
            client=request.auth.client, images=images_from_request(request, "image"), **data
        )
        return self.ok(self.AuthenticateOutputSerializer(result))

    @endpoint(
        summary="Revoke an identity token, by the token or its id",
        input=RevokeInputSerializer,
        output=RevokeOutputSerializer,
        errors={403: "The enrollment belongs to another client.", 409: TOKEN_STATE[409], 410: STATUS_MEANING[410]},
        tags=["identity tokens"],
    )
    def revoke(self, request, *args, **kwargs):
        data = self._input(self.RevokeInputSerializer, request)
        enrollment = enrollment_revoke(client=request.auth.client, token=data["token"], enrollment_id=data["id"])
        return self.ok(self.RevokeOutputSerializer(enrollment))

    @endpoint(
        summary="Authenticate and replace an identity token with a fresh one committed to the live photos",
        input=RotateInputSerializer,
        images=("image",),
        output=RotateOutputSerializer,
        errors={**TOKEN_STATE, 403: "The face does not match, or the token is another client's or locked."},
        tags=["identity tokens"],
    )
    def rotate(self, request, *args, **kwargs):
        data = self._input(self.RotateInputSerializer, request)
        issued = enrollment_rotate(client=request.auth.client, images=images_from_request(request, "image"), **data)
        return self.ok(self.RotateOutputSerializer(issued))
