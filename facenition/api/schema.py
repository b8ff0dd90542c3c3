"""The OpenAPI schema (drf-spectacular): served at /openapi.json, rendered at /docs.

Each endpoint's shape is declared once, by the serializers nested in its view: the fields it takes
(`InputSerializer`) and the answer it gives (`OutputSerializer`, derived from `Answer`, which also
renders that answer). `@endpoint(...)` names them, the images and the statuses only it gives. What
every endpoint shares is added here: the error envelope, the client token (X-Auth-Token or
Authorization: Bearer header, or an `auth_token` field), both body forms (multipart files first, or
JSON with base64 images), X-API-Version, and the statuses any endpoint can answer. A serializer with
`Meta.ref_name` is a shape many answers share and keeps that name in `components.schemas`; every other
answer is written out where it is used. `public_endpoints` turns the URL configuration into one path per
endpoint, as a generated client wants it: `/match` (the version in the X-API-Version header; a
/v1/ or /v2/ prefix works too), v2-only endpoints under `/v2/`, an endpoint split by version
(`/generateToken`) once per version; `finish` names each operation plainly (`gallery_enroll`).
"""

import re
from dataclasses import dataclass

from django.urls import URLResolver, get_resolver
from drf_spectacular.openapi import AutoSchema
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


@extend_schema_field({"type": "boolean", "enum": [False]})
class FalseField(serializers.BooleanField):
    pass


class ErrorSerializer(serializers.Serializer):
    """The one error envelope every failure answers with."""

    ok = FalseField()
    error = serializers.CharField(help_text="What went wrong, in words a caller can act on.")

    class Meta:
        ref_name = "Error"


@extend_schema_field({"type": "boolean", "enum": [True]})
class TrueField(serializers.Field):
    """`"ok": true`, whatever the answer is about."""

    def __init__(self, **kwargs):
        super().__init__(read_only=True, source="*", **kwargs)

    def to_representation(self, value):
        return True


# An `{"ok": true, ...}` answer: each endpoint's OutputSerializer derives from it, renders the answer
# from the service's result and is the answer's schema. (A comment, not a docstring, which the schema
# would show as every answer's description.)
class Answer(serializers.Serializer):
    ok = TrueField()


class Stamp(serializers.DateTimeField):
    """A moment as `datetime.isoformat` writes it (`+00:00`, where DRF would write `Z`)."""

    def to_representation(self, value):
        return value.isoformat()


@dataclass(frozen=True)
class Body:
    """A request body: the fields `serializer` takes, the `images` and, with `token`, `auth_token`."""

    serializer: type[serializers.Serializer] | None
    images: tuple[str, ...]
    token: bool


def _body(fields, images, image_schema, token):
    properties = dict(fields.get("properties", {}))
    for name in images:
        properties[name] = image_schema
    if token:
        properties[TOKEN_FIELD] = TOKEN_FIELD_SCHEMA
    body = {"type": "object", "properties": properties}
    needed = [*fields.get("required", []), *images]
    if needed:
        body["required"] = needed
    return body


# Answers not shared under a name of their own are registered under this prefix, then written out
# where they are used (`finish`).
INLINE = "inline_"


class EndpointSchema(AutoSchema):
    """spectacular's schema of one operation, with the request bodies of `@endpoint`, field examples
    (a field's `style={"example": ...}`) and each answer written out where it is used."""

    def _get_request_body(self, direction="request"):
        body = self.get_request_serializer() if self.method == "POST" else None
        if not isinstance(body, Body):
            return super()._get_request_body(direction)
        fields = self._map_serializer(body.serializer, direction) if body.serializer else {}
        # Multipart first: what Swagger UI's "Try it out" and generated clients offer by default, and
        # how photos are sent most simply.
        content = {
            "multipart/form-data": _body(fields, body.images, IMAGES_MULTIPART, body.token),
            "application/json": _body(fields, body.images, IMAGES_JSON, body.token),
        }
        if not body.images:
            content["application/x-www-form-urlencoded"] = content["multipart/form-data"]
        return {"content": {media_type: {"schema": schema} for media_type, schema in content.items()}}

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if schema is None:
            return None
        # A choice's enum is written where it is used: spectacular's hook that names enums is not run.
        schema.pop("x-spec-enum-id", None)
        if "example" in field.style:
            schema = {**schema, "example": field.style["example"]}
        return schema

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        kind = serializer if isinstance(serializer, type) else type(serializer)
        if getattr(getattr(kind, "Meta", None), "ref_name", None) or issubclass(kind, serializers.ListSerializer):
            return super()._get_serializer_name(serializer, direction, bypass_extensions)
        return INLINE + f"{kind.__module__}.{kind.__qualname__}".replace(".", "_")


def endpoint(
    *,
    summary,
    output,
    status=200,
    input=None,
    images=(),
    token=True,
    errors=None,
    versions=("1", "2"),
    tags=None,
):
    """The schema of one POST endpoint: the fields of its `input` serializer, its `images`, the
    answer its `output` serializer renders with `status`, and the statuses only it gives (`errors`:
    {status: when}, or None for a shared status it never gives); the envelope, the shared statuses
    and both body forms are added. `token`: the endpoint needs a client token; `versions`: the API
    versions that have it."""
    statuses = {code: STATUS_MEANING[code] for code in SHARED_ERRORS}
    if token:
        statuses[401] = STATUS_MEANING[401]
    if images:
        statuses[503] = STATUS_MEANING[503]
    statuses.update(errors or {})
    statuses = {code: meaning for code, meaning in statuses.items() if meaning is not None}
    responses = {status: OpenApiResponse(response=output, description="Done.")}
    for code, meaning in sorted(statuses.items()):
        responses[code] = OpenApiResponse(response=ErrorSerializer, description=meaning)
    return extend_schema(
        summary=summary,
        request=Body(input, tuple(images), token),
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
    """spectacular's postprocessing hook: answers written out in place, operation ids without suffixes,
    the client token's schemes."""
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["ClientToken"] = CLIENT_TOKEN_SCHEME
    schemes["BearerToken"] = BEARER_TOKEN_SCHEME
    named = result["components"].setdefault("schemas", {})
    inline = {name: named.pop(name) for name in list(named) if name.startswith(INLINE)}
    result["paths"] = _inlined(result["paths"], inline)
    names = [operation_id(path) for path in result["paths"]]
    for path, operations in result["paths"].items():
        name = operation_id(path)
        for operation in operations.values():
            # /generateToken and /v2/generateToken are two operations: the v2 one says so.
            operation["operationId"] = f"{name}_v2" if names.count(name) > 1 and path.startswith("/v2/") else name
    return result


def _inlined(value, inline):
    """`value` with every reference to an answer in `inline` replaced by the answer itself."""
    if isinstance(value, dict):
        name = value.get("$ref", "").removeprefix("#/components/schemas/")
        if name in inline:
            return _inlined(inline[name], inline)
        return {key: _inlined(item, inline) for key, item in value.items()}
    if isinstance(value, list):
        return [_inlined(item, inline) for item in value]
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
