from django.shortcuts import render
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from facenition.api.schema import answer
from facenition.health import readiness

CHECKS = {
    "type": "object",
    "description": "Each dependency: ok, or what is wrong with it.",
    "additionalProperties": {"type": "string"},
}


def reference_page(request):
    """The human-facing API reference at /."""
    return render(request, "reference.html")


class ProbeView(APIView):
    """GET only, no client token, never rate limited: probes come often and from machines."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    versioning_class = None
    http_method_names = ["get", "head"]


class HealthView(ProbeView):
    """`/health`: the process answers (liveness)."""

    @extend_schema(
        summary="Liveness: the process answers",
        responses={200: answer({"status": {"type": "string", "enum": ["alive"]}})},
        auth=[],
        tags=["operations"],
    )
    def get(self, request):
        return Response({"ok": True, "status": "alive"})


class ReadyView(ProbeView):
    """`/ready`: the database, the cache, the broker and the face models are there (readiness)."""

    @extend_schema(
        summary="Readiness: database, cache, broker and face models are there",
        responses={
            200: answer({"status": {"type": "string", "enum": ["ready"]}, "checks": CHECKS}),
            503: OpenApiResponse(
                response={
                    "allOf": [
                        {"$ref": "#/components/schemas/Error"},
                        {"type": "object", "required": ["checks"], "properties": {"checks": CHECKS}},
                    ]
                },
                description="Not ready: `error` and `checks` say what is failing.",
            ),
        },
        auth=[],
        tags=["operations"],
    )
    def get(self, request):
        ready, checks = readiness()
        if ready:
            return Response({"ok": True, "status": "ready", "checks": checks})
        failing = "; ".join(f"{name} {result}" for name, result in checks.items() if result.startswith("failing"))
        return Response({"ok": False, "error": f"Not ready: {failing}.", "checks": checks}, status=503)
