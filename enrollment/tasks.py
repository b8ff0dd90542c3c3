import logging

from celery import shared_task

log = logging.getLogger("facenition.enrollment")


@shared_task(acks_late=True)
def purge_expired_enrollments():
    """Beat runs it hourly beside the credentials purge (settings.CELERY_BEAT_SCHEDULE)."""
    from .services import enrollment_purge_expired

    deleted = enrollment_purge_expired()
    log.info("purged %d expired enrollment(s)", deleted)
    return deleted
