import hmac

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from facenition.api.errors import envelope
from facenition.api.schema import Answer, ErrorSerializer
from facenition.health import readiness


def reference_page(request):
    """The human-facing API reference at /."""
    return render(request, "reference.html")


def demo_page(request):
    """`/demo`: try /match, /generate and /authenticate from a browser, with files or the camera."""
    return render(request, "demo.html")


class ProbeView(APIView):
    """GET only, no client token, never rate limited: probes come often and from machines."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    versioning_class = None
    http_method_names = ["get", "head"]


def checks_field():
    return serializers.DictField(
        child=serializers.CharField(), help_text="Each dependency: ok, or what is wrong with it."
    )


class HealthView(ProbeView):
    """`/health`: the process answers (liveness)."""

    class OutputSerializer(Answer):
        status = serializers.ChoiceField(choices=["alive"])

    @extend_schema(
        summary="Liveness: the process answers",
        responses={200: OutputSerializer},
        auth=[],
        tags=["operations"],
    )
    def get(self, request):
        return Response(self.OutputSerializer({"status": "alive"}).data)


class ReadyView(ProbeView):
    """`/ready`: the database, the cache, the broker and the face models are there (readiness)."""

    class OutputSerializer(Answer):
        status = serializers.ChoiceField(choices=["ready"])
        checks = checks_field()

    class NotReadySerializer(ErrorSerializer):
        checks = checks_field()

        class Meta:
            ref_name = None

    @extend_schema(
        summary="Readiness: database, cache, broker and face models are there",
        responses={
            200: OutputSerializer,
            503: OpenApiResponse(
                NotReadySerializer, description="Not ready: `error` and `checks` say what is failing."
            ),
        },
        auth=[],
        tags=["operations"],
    )
    def get(self, request):
        ready, checks = readiness()
        if ready:
            return Response(self.OutputSerializer({"status": "ready", "checks": checks}).data)
        failing = "; ".join(f"{name} {result}" for name, result in checks.items() if result.startswith("failing"))
        not_ready = {"ok": False, "error": f"Not ready: {failing}.", "checks": checks}
        return Response(self.NotReadySerializer(not_ready).data, status=503)


def metrics(request):
    """`/metrics` for Prometheus: 404 while FACENITION_METRICS_TOKEN is unset, then only with
    `Authorization: Bearer <that token>`."""
    token = settings.FACENITION_METRICS_TOKEN
    if not token:
        raise Http404
    presented = request.headers.get("Authorization", "").encode()
    if not hmac.compare_digest(presented, f"Bearer {token}".encode()):
        return envelope(
            "Metrics need Authorization: Bearer <FACENITION_METRICS_TOKEN>.", 401, {"WWW-Authenticate": "Bearer"}
        )
    return ExportToDjangoView(request)
