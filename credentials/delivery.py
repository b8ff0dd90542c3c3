"""Sending one-time codes: email through Django's mail framework, SMS through Twilio with
django-twilio's credentials.

With no provider configured (the embedded default), email goes to Django's console backend and
texts are written to the log, so a person running `make run` can still finish the flow. A provider
that refuses or cannot be reached raises DeliveryFailed with its error.
"""

import logging
import smtplib

import requests
from django.conf import settings
from django.core.mail import send_mail
from django_twilio.utils import discover_twilio_credentials
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger("facenition.delivery")


class DeliveryFailed(Exception):
    """The provider did not take the message; the text is its error. `retry` says whether the
    code will still be valid when a retry is due."""

    retry = False


def sms_provider_configured():
    return bool(settings.TWILIO_ACCOUNT_SID)


def email_send(*, to, subject, body):
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to], fail_silently=False)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryFailed(f"SMTP: {error}") from error


def twilio_client():
    sid, token = discover_twilio_credentials()
    client = Client(sid, token, http_client=TwilioHttpClient(timeout=settings.FACENITION_TWILIO_TIMEOUT_SECONDS))
    if settings.FACENITION_TWILIO_API_URL:
        client.api.base_url = settings.FACENITION_TWILIO_API_URL
    return client


def sms_send(*, to, body):
    if not sms_provider_configured():
        log.warning("no Twilio account configured; the text for %s is written here instead: %s", to, body)
        return
    try:
        twilio_client().messages.create(to=to, from_=settings.TWILIO_DEFAULT_CALLERID, body=body)
    except (TwilioException, requests.RequestException) as error:
        raise DeliveryFailed(f"Twilio: {error}") from error
