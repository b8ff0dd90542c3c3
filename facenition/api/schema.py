"""The OpenAPI schema (drf-spectacular): served at /openapi.json, rendered at /docs.

Each endpoint declares what is its own next to its view with `@endpoint(...)`: its fields, its
images, its answer and the statuses only it gives. What every endpoint shares is added here: the
error envelope, the client token (X-Auth-Token or Authorization: Bearer header, or an `auth_token`
field), both body forms (multipart files first, or JSON with base64 images), X-API-Version, and the
statuses any endpoint can answer. `public_endpoints` turns the URL configuration into one path per
endpoint, as a generated client wants it: `/match` (the version in the X-API-Version header; a
/v1/ or /v2/ prefix works too), v2-only endpoints under `/v2/`, an endpoint split by version
(`/generateToken`) once per version; `finish` names each operation plainly (`gallery_enroll`).
"""

import re

from django.urls import URLResolver, get_resolver
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers

from .auth import TOKEN_FIELD, TOKEN_HEADER

STATUS_MEANING = {
    400: "The request is malformed or a field or image is refused; `error` names it.",
    401: "No client token, or one that is unknown, revoked or expired.",
    403: "Not allowed for this client or in this state.",
    404: "No such thing here, or the API version does not have this endpoint.",
    405: "Every API endpoint accepts POST only.",
    408: "The request body took longer than FACENITION_BODY_READ_SECONDS to arrive.",
    409: "Already done.",
    410: "Revoked or expired.",
    429: "Rate limit or attempt limit reached; Retry-After says when to try again.",
    502: "A store or queue the server needs could not be reached; try again. The error quotes the request id.",
    503: "The face work waited past the request's deadline; Retry-After says when to try again.",
}
SHARED_ERRORS = (400, 404, 405, 408, 429, 502)


def version_header(versions):
    return OpenApiParameter(
        "X-API-Version",
        str,
        OpenApiParameter.HEADER,
        required=False,
        enum=list(versions),
        description="Beats the path's /v1/ or /v2/ prefix; no prefix and no header mean v1.",
    )


IMAGES_JSON = {
    "oneOf": [
        {"type": "string", "description": "base64, plain or as a data: URL"},
        {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 10},
    ],
    "description": "JPEG, PNG, WebP or BMP, base64-encoded (plain or data: URL); one or a list of at most 10.",
}
IMAGES_MULTIPART = {
    "type": "array",
    "items": {"type": "string", "format": "binary"},
    "minItems": 1,
    "maxItems": 10,
    "description": "JPEG, PNG, WebP or BMP files, the field repeated once per image; at most 10 of at most 10 MB.",
}
TOKEN_FIELD_SCHEMA = {"type": "string", "description": f"The client token, when it is not sent as {TOKEN_HEADER}."}


ACCURACY = {
    "type": "integer",
    "minimum": 1,
    "maximum": 8,
    "default": 4,
    "description": "Tolerance level, 1 the most tolerant, 8 the strictest.",
}
# Shapes many answers share get a name of their own in the schema (`components.schemas`), so that a
# generated client has one FaceBox class, not one per place a box appears.
COMPONENTS: dict[str, dict] = {}


def component(name: str, schema: dict) -> dict:
    """Names `schema`: wherever an answer uses it, the published schema refers to `name` instead."""
    COMPONENTS[name] = schema
    return schema


FACE_BOX = component(
    "FaceBox",
    {
        "type": "object",
        "description": "Where a face is, in the photo's own pixels.",
        "required": ["left", "top", "width", "height"],
        "properties": {name: {"type": "integer", "example": value} for name, value in
                       (("left", 412), ("top", 96), ("width", 230), ("height", 231))},
    },
)  # fmt: skip
BOX = component(
    "PhotoFaces",
    {
        "type": "object",
        "description": "A photo's face count and its largest face's box, in pixels.",
        "properties": {"faces": {"type": "integer", "example": 1}, "box": FACE_BOX},
    },
)
STAMP = {"type": "string", "format": "date-time"}


@extend_schema_field({"type": "boolean", "enum": [False]})
class FalseField(serializers.BooleanField):
    pass


class ErrorSerializer(serializers.Serializer):
    """The one error envelope every failure answers with."""

    ok = FalseField()
    error = serializers.CharField(help_text="What went wrong, in words a caller can act on.")

    class Meta:
        ref_name = "Error"


def answer(properties, required=None):
    """An `{"ok": true, ...}` answer's schema."""
    return {
        "type": "object",
        "required": ["ok", *(required if required is not None else properties)],
        "properties": {"ok": {"type": "boolean", "enum": [True]}, **properties},
    }


def _body(fields, required, images, image_schema, token):
    properties = dict(fields)
    for name in images:
        properties[name] = image_schema
    if token:
        properties[TOKEN_FIELD] = TOKEN_FIELD_SCHEMA
    body = {"type": "object", "properties": properties}
    needed = [*required, *images]
    if needed:
        body["required"] = needed
    return body


def endpoint(
    *,
    summary,
    ok,
    ok_status=200,
    fields=None,
    required=(),
    images=(),
    token=True,
    errors=None,
    versions=("1", "2"),
    tags=None,
):
    """The schema of one POST endpoint: its own fields, images, answer and statuses (`errors`:
    {status: when}, or None for a shared status it never gives); the envelope, the shared statuses
    and both body forms are added. `token`:
    the endpoint needs a client token; `versions`: the API versions that have it."""
    fields = fields or {}
    # Multipart first: what Swagger UI's "Try it out" and generated clients offer by default, and how
    # photos are sent most simply.
    bodies = {
        "multipart/form-data": _body(fields, required, images, IMAGES_MULTIPART, token),
        "application/json": _body(fields, required, images, IMAGES_JSON, token),
    }
    if not images:
        bodies["application/x-www-form-urlencoded"] = bodies["multipart/form-data"]
    statuses = {status: STATUS_MEANING[status] for status in SHARED_ERRORS}
    if token:
        statuses[401] = STATUS_MEANING[401]
    if images:
        statuses[503] = STATUS_MEANING[503]
    statuses.update(errors or {})
    statuses = {status: meaning for status, meaning in statuses.items() if meaning is not None}
    responses = {ok_status: OpenApiResponse(response=ok, description="Done.")}
    for status, meaning in sorted(statuses.items()):
        responses[status] = OpenApiResponse(response=ErrorSerializer, description=meaning)
    return extend_schema(
        summary=summary,
        request=bodies,
        responses=responses,
        parameters=[version_header(versions)],
        # drf-spectacular's hints say list[str]; it takes security requirement objects, as OpenAPI has them.
        auth=[{"ClientToken": []}, {"BearerToken": []}] if token else [],  # type: ignore[list-item]
        tags=tags,
    )


# `match`, or a name within a group: `gallery/enroll`.
ENDPOINT_NAME = re.compile(r"^/(?:v\{version\}/)?(?P<name>[A-Za-z-]+(?:/[A-Za-z-]+)?)/?$")


def public_endpoints(endpoints, **kwargs):
    """spectacular's preprocessing hook: the paths a caller uses, each operation once per form."""
    public = []
    for path, path_regex, method, callback in endpoints:
        found = ENDPOINT_NAME.match(path)
        if path in ("/health", "/ready") or path.startswith("/openapi"):
            public.append((path, path_regex, method, callback))
        elif found:
            name = found.group("name")
            versioned = "{version}" in path
            # One path per endpoint: the version is the X-API-Version header every operation declares
            # (a /v1/ or /v2/ prefix works as well, and is said so once, in the description). An
            # endpoint only v2 has is described at its /v2/ path.
            if getattr(callback.cls, "min_version", 1) > 1:
                if versioned:
                    public.append((f"/v2/{name}", path_regex, method, callback))
            elif not versioned:
                public.append((f"/{name}", path_regex, method, callback))
    # spectacular sees no view behind a pattern split by version (facenition.api.dispatch): each
    # version's view is described here, the lowest without a prefix, as a caller reaches it.
    for name, views in _split_by_version(get_resolver().url_patterns).items():
        lowest = min(views)
        for version, view in sorted(views.items()):
            prefix = "" if version == lowest else f"v{version}/"
            for method in view.actions:
                public.append((f"/{prefix}{name}", f"^{prefix}{name}/?$", method.upper(), view))
    return public


def _split_by_version(patterns) -> dict:
    """{name: {version: view}} of every URL pattern that hands each version to a view of its own."""
    found = {}
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found.update(_split_by_version(pattern.url_patterns))
        elif hasattr(pattern.callback, "views"):
            found[str(pattern.pattern).removeprefix("^").removesuffix("/?$")] = pattern.callback.views
    return found


CLIENT_TOKEN_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": TOKEN_HEADER,
    "description": f"A client token (fnc_...) from /generateToken; or send it as an `{TOKEN_FIELD}` field.",
}


BEARER_TOKEN_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "The same client token as `Authorization: Bearer fnc_...`, as generated clients send it.",
}


def operation_id(path):
    """`/gallery/enroll` -> `gallery_enroll`, `/generateToken` -> `generate_token`: what a generated
    client names its functions, without spectacular's `_create` suffixes."""
    name = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", path.removeprefix("/v2/").strip("/")).lower()
    return re.sub(r"[^a-z0-9]+", "_", name).strip("_")


def finish(result, **kwargs):
    """spectacular's postprocessing hook: operation ids without suffixes; the client token's schemes."""
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["ClientToken"] = CLIENT_TOKEN_SCHEME
    schemes["BearerToken"] = BEARER_TOKEN_SCHEME
    named = result["components"].setdefault("schemas", {})
    for name, schema in COMPONENTS.items():
        named[name] = _referring(schema, skip=name)
    result["paths"] = _referring(result["paths"])
    names = [operation_id(path) for path in result["paths"]]
    for path, operations in result["paths"].items():
        name = operation_id(path)
        for operation in operations.values():
            # /generateToken and /v2/generateToken are two operations: the v2 one says so.
            operation["operationId"] = f"{name}_v2" if names.count(name) > 1 and path.startswith("/v2/") else name
    return result


def _referring(value, skip=None):
    """`value` with every named shape (COMPONENTS) in it replaced by a reference to its name."""
    if isinstance(value, dict):
        for name, schema in COMPONENTS.items():
            if name != skip and value == schema:
                return {"$ref": f"#/components/schemas/{name}"}
        return {key: _referring(item, skip) for key, item in value.items()}
    if isinstance(value, list):
        return [_referring(item, skip) for item in value]
    return value


def mock_request(method, path, view, original_request, **kwargs):
    """The request spectacular describes each view with: the version is the path's (`/v2/...`),
    whatever X-API-Version the schema's own caller sent, so v2-only views can be described."""
    from drf_spectacular.plumbing import build_mock_request

    request = build_mock_request(method, path, view, original_request, **kwargs)
    request.META.pop("HTTP_X_API_VERSION", None)
    if path.startswith("/v2/"):
        request.META["HTTP_X_API_VERSION"] = "2"
    return request
