import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.utils import timezone

from .delivery import DeliveryFailed
from .services import credentials_purge, verification_deliver
from .worker_keys import worker_keys_keep_announcing, worker_keys_withdraw

log = logging.getLogger("facenition.credentials")


@worker_ready.connect
def announce_token_keys(sender, **kwargs):
    worker_keys_keep_announcing(hostname=sender.hostname)


@worker_shutdown.connect
def withdraw_token_keys(sender, **kwargs):
    worker_keys_withdraw(hostname=sender.hostname)


@shared_task(bind=True, acks_late=True, max_retries=None)
def deliver_code(self, verification_id, channel):
    """Sends one channel's code. Provider errors are retried with a doubling delay, up to
    FACENITION_DELIVERY_MAX_RETRIES times and never once the code has expired."""
    retries = self.request.retries
    delay = settings.FACENITION_DELIVERY_RETRY_SECONDS * 2**retries
    retry_at = timezone.now() + timedelta(seconds=delay) if retries < settings.FACENITION_DELIVERY_MAX_RETRIES else None
    try:
        verification_deliver(verification_id=verification_id, channel=channel, retry_at=retry_at)
    except DeliveryFailed as failure:
        if failure.retry:
            raise self.retry(countdown=delay, exc=failure) from None


@shared_task(acks_late=True)
def purge_expired_credentials():
    result = credentials_purge()
    log.info(
        "purged %d expired verification(s) and %d expired or revoked client token(s)",
        len(result.verifications),
        len(result.client_tokens),
    )


@shared_task(acks_late=True)
def requeue_stalled_deliveries():
    from .services import verification_requeue_stalled

    verification_requeue_stalled()
