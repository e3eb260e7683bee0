"""Outgoing email (password reset and email verification links) over SMTP, or the log
in development. Mails are sent after the response, by the route's background tasks."""

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import urlencode

from app.core.config import Settings
from app.core.tokens import VERIFY_EMAIL_HOURS, create_verification_token
from app.models import User

logger = logging.getLogger(__name__)

MailKind = Literal["reset", "verify"]
_PAGES = {"reset": "reset-password", "verify": "verify-email"}
ACCOUNT_PAGES = "/account"  # where app.pages serves them


@dataclass(frozen=True, slots=True)
class Mail:
    """A link to mail: to whom, for what, with which token."""

    kind: MailKind
    to: str
    token: str


def verification_mail(settings: Settings, user: User) -> Mail | None:
    """The mail that proves `user`'s address, when verification is required and the
    address is not proven yet."""
    if not settings.require_email_verification or user.email_verified:
        return None
    token = create_verification_token(
        settings, user_id=user.id, email=user.email, email_changes=user.email_changes
    )
    return Mail("verify", user.email, token)


def link(settings: Settings, kind: MailKind, token: str) -> str:
    """The page that receives `token`: the frontend's, else the service's own (either
    calls the API when the person submits; mail scanners that open links change nothing)."""
    base = settings.frontend_url or f"{settings.public_url.rstrip('/')}{ACCOUNT_PAGES}"
    return f"{base.rstrip('/')}/{_PAGES[kind]}?{urlencode({'token': token})}"


def _compose(settings: Settings, mail: Mail) -> EmailMessage:
    url, name = link(settings, mail.kind, mail.token), settings.app_name
    message = EmailMessage()
    message["From"], message["To"] = settings.smtp_from, mail.to
    if mail.kind == "reset":
        minutes = settings.password_reset_expire_minutes
        message["Subject"] = f"Reset your {name} password"
        message.set_content(
            f"Someone asked to reset the password of your {name} account.\n\n"
            f"Set a new password here (the link works once, for {minutes} minutes):\n\n"
            f"{url}\n\n"
            "If it was not you, ignore this email; your password stays as it is.\n"
        )
    else:
        message["Subject"] = f"Confirm your email address for {name}"
        message.set_content(
            f"Confirm that this address belongs to your {name} account "
            f"(the link works once, for {VERIFY_EMAIL_HOURS} hours):\n\n"
            f"{url}\n\n"
            "If you did not sign up, ignore this email.\n"
        )
    return message


def send(settings: Settings, mail: Mail) -> None:
    """Mail `mail`; without SMTP, log the link (development) or say why not.

    Runs after the response has been sent; failures are logged, never raised.
    """
    if not settings.smtp_host:
        if settings.environment == "production":
            logger.error("SMTP_HOST is not set: %s email to %s not sent", mail.kind, mail.to)
        else:
            url = link(settings, mail.kind, mail.token)
            logger.warning("SMTP is not configured; %s link for %s: %s", mail.kind, mail.to, url)
        return
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user and settings.smtp_password:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(_compose(settings, mail))
    except (OSError, smtplib.SMTPException):
        logger.exception("Could not send the %s email to %s", mail.kind, mail.to)
