"""An endpoint that behaves differently per API version says so here, in its URL pattern, rather
than with an `if` in a view:

    re_path(r"^generateToken/?$", by_version({1: ClientTokenViewSet.as_view(...),
                                              2: VerifiedClientTokenViewSet.as_view(...)}))

The version is decided by the same versioning class every view uses. A version without a view
of its own gets the one of the nearest version below it.
"""

from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import APIException

from .errors import exception_handler
from .versioning import FacenitionVersioning


def by_version(views):
    """A view that hands each request to `views[version]` (versions as ints)."""
    versions = sorted(views)

    @csrf_exempt
    def dispatch(request, *args, **kwargs):
        try:
            version = int(FacenitionVersioning().determine_version(request, *args, **kwargs))
        except APIException as exc:
            return exception_handler(exc)
        chosen = max((v for v in versions if v <= version), default=versions[0])
        return views[chosen](request, *args, **kwargs)

    # The OpenAPI schema describes each version's view (facenition.api.schema.public_endpoints).
    dispatch.views = dict(views)  # type: ignore[attr-defined]
    return dispatch
