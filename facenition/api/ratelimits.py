"""Rate limits for every endpoint, in one place: django-ratelimit counts in the shared cache
(Redis, or the database cache when there is no REDIS_URL; never a per-process memory).

On a viewset, name who is counted; the rate comes from a setting:

    class SignupViewSet(PublicViewSet):               # no client token: per client IP
        ...                                           # FACENITION_RATE_LIMIT_PER_IP (PublicViewSet's)

    class EnrollmentViewSet(FacenitionViewSet):       # face endpoints: per client token
        throttle_classes = [PerClientToken]           # FACENITION_RATE_LIMIT_PER_TOKEN

Each viewset has a budget of its own; give several viewsets the same `rate_limit_group` to share
one. For another rate, subclass and point `rate_setting` at another setting. The check runs after
authentication, so `PerClientToken` counts the client of the token that was accepted: all its
credentials share one budget, and rotating a token does not reset it.

To limit something that is not a request (codes sent per email + phone pair), a service calls
`facenition.ratelimits.rate_limit_count(group=..., key=..., rate=..., message=...)`.

Over the limit: 429 with Retry-After. Store unreachable: 502, the request is not served.
"""

import ipaddress

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from facenition.ratelimits import rate_limit_count

IPV6_NETWORK_BITS = 64  # one subscriber usually holds a whole /64


def client_ip(request):
    """The caller's address: REMOTE_ADDR, or, behind FACENITION_TRUSTED_PROXIES proxies, the address
    the outermost of them saw (that many entries from the right of X-Forwarded-For). IPv6
    addresses count by their /64."""
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.FACENITION_TRUSTED_PROXIES
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_NETWORK_BITS}", strict=False).network_address)
    return str(ip)


class RateLimit(BaseThrottle):
    """A DRF throttle that counts with django-ratelimit and answers through the error classes."""

    rate_setting: str  # the name of the setting that holds the rate

    def key(self, request, view):
        raise NotImplementedError

    def allow_request(self, request, view):
        view_class = type(view)
        group = getattr(view, "rate_limit_group", None) or f"{view_class.__module__}.{view_class.__qualname__}"
        rate = getattr(settings, self.rate_setting)
        rate_limit_count(
            group=f"{self.rate_setting}:{group}",
            key=self.key(request, view),
            rate=rate,
            message=f"Too many requests: at most {rate} here. Retry after the time in the Retry-After header.",
        )
        return True


class PerClientIp(RateLimit):
    rate_setting = "FACENITION_RATE_LIMIT_PER_IP"

    def key(self, request, view):
        return f"ip:{client_ip(request)}"


class PerClientToken(RateLimit):
    rate_setting = "FACENITION_RATE_LIMIT_PER_TOKEN"

    def key(self, request, view):
        if request.auth is None:
            return f"ip:{client_ip(request)}"
        return f"client:{request.auth.client_id}"
