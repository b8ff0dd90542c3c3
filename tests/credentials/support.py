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


def request_codes(api, email, phone):
    return api.post("/v2/new-credentials", {"email": email, "phone": phone}, format="json")


def confirm_codes(api, email, phone, email_code, sms_code):
    return api.post(
        "/v2/authenticate-credentials",
        {"email": email, "phone": phone, "email_code": email_code, "sms_code": sms_code},
        format="json",
    )


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"
