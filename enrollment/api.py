from rest_framework import serializers

from facenition.api.fields import AccuracyField
from facenition.api.images import images_from_request
from facenition.api.ratelimits import PerClientToken
from facenition.api.views import FacenitionViewSet

from .services import enrollment_authenticate, enrollment_generate, enrollment_revoke, enrollment_rotate


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

    def generate(self, request, *args, **kwargs):
        data = self._input(self.GenerateInputSerializer, request)
        enrollment, token = enrollment_generate(
            client=request.auth.client, images=images_from_request(request, "image"), **data
        )
        return self.ok(self._issued(enrollment, token), status=201)

    def authenticate(self, request, *args, **kwargs):
        data = self._input(self.AuthenticateInputSerializer, request)
        result = enrollment_authenticate(
            client=request.auth.client, images=images_from_request(request, "image"), **data
        )
        return self.ok({"authenticated": result.authenticated, "id": str(result.enrollment.id)})

    def revoke(self, request, *args, **kwargs):
        data = self._input(self.RevokeInputSerializer, request)
        enrollment = enrollment_revoke(client=request.auth.client, token=data["token"], enrollment_id=data["id"])
        return self.ok({"id": str(enrollment.id), "revoked_at": enrollment.revoked_at.isoformat()})

    def rotate(self, request, *args, **kwargs):
        data = self._input(self.RotateInputSerializer, request)
        enrollment, token = enrollment_rotate(
            client=request.auth.client, images=images_from_request(request, "image"), **data
        )
        return self.ok({**self._issued(enrollment, token), "replaces": str(enrollment.rotated_from_id)})
