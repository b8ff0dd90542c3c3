import re

import phonenumbers
from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from facenition.api.auth import presented_client_token
from facenition.api.ratelimits import PerClientToken, client_ip
from facenition.api.schema import Answer, Stamp, TrueField, endpoint
from facenition.api.views import FacenitionViewSet, PublicViewSet

from .services import (
    client_token_describe,
    client_token_issue_v1,
    client_token_issue_verified,
    client_token_rotate,
    verification_confirm,
    verification_request,
)

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


EMAIL_EXAMPLE = {"example": "ada@example.com"}


class PairEmailField(serializers.EmailField):
    """An email address, lower-cased so one mailbox is one pair however it is typed."""

    def __init__(self, **kwargs):
        super().__init__(max_length=254, style=EMAIL_EXAMPLE, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data).lower()


@extend_schema_field(
    {
        "type": "string",
        "pattern": E164.pattern,
        "description": "E.164: + country code and digits, like +14155552671.",
        "example": "+14155552671",
    }
)
class E164PhoneField(serializers.CharField):
    default_error_messages = {
        "invalid": "must be a phone number in E.164 form, like +14155552671 (in a form body, send + as %2B)."
    }

    def __init__(self, **kwargs):
        super().__init__(max_length=16, **kwargs)

    def to_internal_value(self, data):
        number = super().to_internal_value(data)
        if not E164.match(number):
            self.fail("invalid")
        try:
            valid = phonenumbers.is_valid_number(phonenumbers.parse(number))
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            self.fail("invalid")
        return number


class CodeField(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(
            r"^[0-9]{6}$",
            error_messages={"invalid": "must be the six digits that were sent."},
            help_text="The six digits that were sent.",
            style={"example": "521453"},
            **kwargs,
        )


def client_name_field():
    """The `name` a caller gives its new client token: one field, on v1's and v2's /generateToken."""
    return serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Your name for the token, shown in the admin.",
        style={"example": "my-app"},
    )


class PairInputSerializer(serializers.Serializer):
    email = PairEmailField()
    phone = E164PhoneField()


class IssuedTokenSerializer(Answer):
    """A client token just issued (its plaintext, shown this once)."""

    token = serializers.CharField(source="raw", help_text="fnc_...; shown once")
    expires_at = Stamp(source="token.expires_at")


class ClientTokenViewSet(PublicViewSet):
    """`/generateToken` (v1: issues at once) and `/token` (introspection)."""

    class IssueInputSerializer(serializers.Serializer):
        name = client_name_field()
        email = serializers.EmailField(
            max_length=254, required=False, allow_blank=True, default="", style=EMAIL_EXAMPLE
        )

    class DescribeOutputSerializer(Answer):
        active = serializers.BooleanField(source="is_active")
        name = serializers.CharField(source="client.name")
        api_version = serializers.CharField()
        verified = serializers.BooleanField(source="client.is_verified")
        created_at = Stamp()
        expires_at = Stamp()
        last_used_at = Stamp(allow_null=True)

    @endpoint(
        summary="v1: issue a client token at once",
        input=IssueInputSerializer,
        output=IssuedTokenSerializer,
        status=201,
        token=False,
        errors={
            403: "This server issues client tokens to verified v2 pairs only (FACENITION_V1_TOKENS=false).",
            429: "Too many new clients from your address (FACENITION_V1_TOKEN_RATE_PER_IP).",
        },
        tags=["client tokens"],
    )
    def generate(self, request, *args, **kwargs):
        data = self._input(self.IssueInputSerializer, request)
        return self.ok(IssuedTokenSerializer(client_token_issue_v1(source=client_ip(request), **data)), status=201)

    @endpoint(
        summary="Describe the client token you present",
        output=DescribeOutputSerializer,
        # An unknown or missing token is described (404), not refused (401).
        errors={401: None, 404: "No such client token.", 410: "The client token was revoked or has expired."},
        tags=["client tokens"],
    )
    def describe(self, request, *args, **kwargs):
        token = client_token_describe(raw=presented_client_token(request))
        return self.ok(self.DescribeOutputSerializer(token))


class ClientTokenRotationViewSet(FacenitionViewSet):
    """`/rotateToken` (v1 and v2): a new credential for the client of the one presented, which stops
    working at once. The client's enrollments stay with it."""

    throttle_classes = [PerClientToken]

    @endpoint(
        summary="Rotate the client token you present: a new one for the same client; the old one stops at once",
        output=IssuedTokenSerializer,
        status=201,
        tags=["client tokens"],
    )
    def rotate(self, request, *args, **kwargs):
        return self.ok(IssuedTokenSerializer(client_token_rotate(token=request.auth)), status=201)


class VerifiedClientTokenViewSet(PublicViewSet):
    """`/v2/generateToken`: a client token for the caller that proved it owns an email + phone pair."""

    min_version = 2

    class IssueInputSerializer(PairInputSerializer):
        name = client_name_field()
        verification_token = serializers.CharField(
            max_length=100,
            required=False,
            allow_blank=True,
            default="",
            help_text="fnv_...: what /v2/authenticate-credentials answered; once, within its lifetime. "
            "Or send it in the X-Verification-Token header.",
        )

    @endpoint(
        summary="v2: issue the client token of a verified email + phone pair (once, to whoever verified it)",
        input=IssueInputSerializer,
        output=IssuedTokenSerializer,
        status=201,
        token=False,
        versions=("2",),
        errors={
            401: "No verification token, or one that is not this pair's.",
            403: "The verification already issued a token, or it waited too long.",
        },
        tags=["client tokens"],
    )
    def generate(self, request, *args, **kwargs):
        data = self._input(self.IssueInputSerializer, request)
        proof = data.pop("verification_token") or request.headers.get("X-Verification-Token", "")
        issued = client_token_issue_verified(api_version=request.version, proof=proof, **data)
        return self.ok(IssuedTokenSerializer(issued), status=201)


class VerificationViewSet(PublicViewSet):
    """`/v2/new-credentials` sends an email code and an SMS code; `/v2/authenticate-credentials`
    checks them and hands the prover its verification token."""

    min_version = 2

    class RequestCodesOutputSerializer(Answer):
        expires_in = serializers.IntegerField(help_text="Seconds the codes sent now stay valid.")

    class ConfirmInputSerializer(PairInputSerializer):
        email_code = CodeField()
        sms_code = CodeField()

    class ConfirmOutputSerializer(Answer):
        verified = TrueField()
        verification_token = serializers.CharField(
            source="proof", help_text="fnv_...: shown once; /v2/generateToken needs it"
        )
        expires_in = serializers.IntegerField(
            source="verification.seconds_left", help_text="Seconds left to ask /v2/generateToken."
        )

    @endpoint(
        summary="v2: send a six-digit code by email and another by SMS",
        input=PairInputSerializer,
        output=RequestCodesOutputSerializer,
        status=202,
        token=False,
        versions=("2",),
        errors={429: "Too many sends to this pair, phone number or email address, or asked from your address."},
        tags=["client tokens"],
    )
    def request_codes(self, request, *args, **kwargs):
        data = self._input(PairInputSerializer, request)
        verification_request(source=client_ip(request), **data)
        # The same answer whatever the pair's state, so that it tells a stranger nothing.
        lifetime = {"expires_in": settings.FACENITION_CODE_LIFETIME_SECONDS}
        return self.ok(self.RequestCodesOutputSerializer(lifetime), status=202)

    @endpoint(
        summary="v2: send both codes back to verify the pair, and receive the verification token",
        input=ConfirmInputSerializer,
        output=ConfirmOutputSerializer,
        token=False,
        versions=("2",),
        errors={
            401: "The codes do not match a pending verification of this pair.",
            409: "These codes already issued the pair's client token.",
            410: "The codes have expired.",
            429: "Too many wrong codes from your address, for this pair, phone number or email address.",
        },
        tags=["client tokens"],
    )
    def confirm(self, request, *args, **kwargs):
        data = self._input(self.ConfirmInputSerializer, request)
        confirmed = verification_confirm(source=client_ip(request), **data)
        return self.ok(self.ConfirmOutputSerializer(confirmed))
