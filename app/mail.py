"""Outgoing email (password reset links) over SMTP, or the log in development."""

import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import urlencode

from app.config import Settings

logger = logging.getLogger(__name__)


def reset_link(settings: Settings, token: str) -> str:
    """The frontend page where a user sets a new password with `token`."""
    return f"{settings.frontend_url.rstrip('/')}/reset-password?{urlencode({'token': token})}"


def send_password_reset(settings: Settings, to: str, token: str) -> None:
    """Mail a reset link to `to`; without SMTP, log it (development) or say why not.

    Runs after the response has been sent; failures are logged, never raised.
    """
    link = reset_link(settings, token)
    if not settings.smtp_host:
        if settings.environment == "production":
            logger.error("SMTP_HOST is not set: password reset email to %s not sent", to)
        else:
            logger.warning("SMTP is not configured; password reset link for %s: %s", to, link)
        return
    message = EmailMessage()
    message["Subject"] = f"Reset your {settings.app_name} password"
    message["From"] = settings.smtp_from
    message["To"] = to
    minutes = settings.password_reset_expire_minutes
    message.set_content(
        f"Someone asked to reset the password of your {settings.app_name} account.\n\n"
        f"Set a new password here (the link works once, for {minutes} minutes):\n\n"
        f"{link}\n\n"
        "If it was not you, ignore this email; your password stays as it is.\n"
    )
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user and settings.smtp_password:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        logger.exception("Could not send the password reset email to %s", to)
