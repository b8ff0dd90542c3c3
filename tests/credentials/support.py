"""Helpers the onboarding tests share."""

import re
import socket
import time

CODE = re.compile(r"\b([0-9]{6})\b")


def wait_for(predicate, timeout=20.0, what="something"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request_codes(api, email, phone, **extra):
    return api.post("/v2/new-credentials", {"email": email, "phone": phone}, format="json", **extra)


def confirm_codes(api, email, phone, email_code, sms_code, **extra):
    return api.post(
        "/v2/authenticate-credentials",
        {"email": email, "phone": phone, "email_code": email_code, "sms_code": sms_code},
        format="json",
        **extra,
    )


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


def proven(email, phone):
    """A pair verified as /v2/authenticate-credentials verifies it: (its verification, the verification
    token its prover received)."""
    from credentials.models import Verification
    from credentials.services import verification_prove

    verification = Verification.start(email=email, phone=phone)
    return verification, verification_prove(verification=verification)


def claim_token(email, phone):
    """A freshly verified pair's first client token, as /v2/generateToken issues it: (row, raw)."""
    from credentials.services import client_token_issue_verified

    _, proof = proven(email, phone)
    return client_token_issue_verified(email=email, phone=phone, proof=proof)
