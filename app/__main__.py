"""Command line: `python -m app serve | migrate | create-admin | reset-two-factor | cleanup |
backup | restore`."""

import argparse
import getpass
import logging
import logging.config
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session

from app.core import backup, metrics
from app.core.config import Settings, describe_validation_error, get_settings
from app.core.context import SYSTEM
from app.core.db import Database, describe_unreachable
from app.core.errors import AppError, ErrorCode
from app.core.logs import logging_config
from app.core.migrations import migrate
from app.core.passwords import PasswordHasher
from app.models import Role, UserCreate
from app.models.fields import utcnow
from app.services import accounts, attachments, audit, live, sessions, throttle, two_factor
from app.services.mail import link

logger = logging.getLogger("app.cli")
Handler = Callable[[Settings, argparse.Namespace], int]


@contextmanager
def system_session(settings: Settings) -> Iterator[Session]:
    """A session on the database of `settings` that acts as the system (what the
    command line changes is its doing), committed on the way out."""
    database = Database(settings)
    try:
        with database.session() as db:
            audit.act_as(db, SYSTEM)
            yield db
            db.commit()
    finally:
        database.dispose()


def default_workers(settings: Settings) -> int:
    """WEB_CONCURRENCY if set; else one per CPU in production, one otherwise."""
    if settings.web_concurrency:
        return settings.web_concurrency
    if settings.environment != "production":
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _new_admin(settings: Settings, email: str, password: str) -> tuple[UserCreate, str]:
    try:
        user_in = UserCreate(email=email, password=password, role=Role.ADMIN)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc)) from None
    return user_in, PasswordHasher(settings.bcrypt_rounds).hash(user_in.password)


def _promote(db: Session, *, email: str) -> str | None:
    user = accounts.find_by_email(db, email)
    if user is None:
        return None
    if accounts.promote_to_admin(db, user):
        return f"{user.email} promoted to admin"
    return f"{user.email} is already an active admin"


def ensure_admin(settings: Settings, email: str, password: str | None) -> str:
    """Make `email` an active admin, creating the account when it does not exist.

    Returns what was done. Raises `ValueError` when a new account has no valid password.
    """
    with system_session(settings) as db:
        done = _promote(db, email=email)
        if done is not None:
            return done
        if password is None:
            raise ValueError("a password is needed to create the account")
        db.commit()  # no connection is held while bcrypt runs
        user_in, password_hash = _new_admin(settings, email, password)
        accounts.create_user(db, user_in=user_in, password_hash=password_hash)
        return f"admin {user_in.email} created"


def account_exists(settings: Settings, email: str) -> bool:
    """Whether an account uses `email`."""
    with system_session(settings) as db:
        return accounts.find_by_email(db, email) is not None


def ensure_first_admin(settings: Settings) -> None:
    """Create FIRST_ADMIN_EMAIL as an admin when it is configured and absent."""
    email, password = settings.first_admin_email, settings.first_admin_password
    if email and password and not account_exists(settings, email):
        try:
            logger.info(ensure_admin(settings, email, password.get_secret_value()))
        except AppError as exc:  # another instance, starting too, created it first
            if exc.code is not ErrorCode.EMAIL_ALREADY_REGISTERED:
                raise


def prepare_database(settings: Settings) -> None:
    """Apply migrations, then create the first admin if configured."""
    migrate(settings.database_url)
    ensure_first_admin(settings)


def _shown_host(host: str) -> str:
    """The host to put in a link to a server bound to `host`."""
    if host in {"0.0.0.0", "::", ""}:  # noqa: S104 - read, not bound
        return "localhost"
    return f"[{host}]" if ":" in host else host


def where_to_look(settings: Settings, host: str, port: int) -> list[str]:
    """What `serve` says before it starts: where the docs, the back office and mail are."""
    base = f"http://{_shown_host(host)}:{port}"
    lines = [f"API docs: {base}{settings.api_v1_prefix}/docs"]
    if settings.admin_ui:
        lines.append(f"Back office: {base}/admin (an admin account: python -m app create-admin)")
    if settings.metrics_enabled:
        lines.append(f"Metrics: {base}/metrics")
    if settings.smtp_host:
        pages = link(settings, "reset", "").split("/reset-password")[0]
        server = f"{settings.smtp_host}:{settings.smtp_port}"
        lines.append(f"Mail: sent through {server}, links to {pages}")
    elif settings.environment == "production":
        lines.append("Mail: SMTP_HOST is not set, so reset and verification mails are not sent")
    else:
        lines.append("Mail: SMTP_HOST is not set, so reset and verification links are logged here")
    return lines


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """`serve`: prepare the database, say where to look, then run uvicorn."""
    prepare_database(settings)
    metrics.prepare_multiprocess_dir(settings)
    for line in where_to_look(settings, args.host, args.port):
        logger.info(line)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=None if args.reload else args.workers or default_workers(settings),
        reload=args.reload,
        proxy_headers=False,  # the app reads them itself (app/proxies.py)
        http="app.core.server:BoundedHttpToolsProtocol",
        log_config=logging_config(settings.log_level),
        server_header=False,
    )
    return 0


def migrate_command(settings: Settings, _args: argparse.Namespace) -> int:
    """`migrate`: apply migrations and create the first admin."""
    prepare_database(settings)
    return 0


def create_admin(settings: Settings, args: argparse.Namespace) -> int:
    """`create-admin`: create an admin, or promote an existing account."""
    email = args.email or input("Admin email: ").strip()
    password = args.password
    if password is None and not account_exists(settings, email):
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            print("error: the passwords differ", file=sys.stderr)
            return 1
    try:
        print(ensure_admin(settings, email, password))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def reset_two_factor(settings: Settings, args: argparse.Namespace) -> int:
    """`reset-two-factor --email`: turn an account's two-factor sign-in off (a lost
    authenticator and lost recovery codes, and no other admin to do it)."""
    with system_session(settings) as db:
        user = accounts.find_by_email(db, args.email)
        try:
            if user is None:
                raise AppError(ErrorCode.USER_NOT_FOUND)
            two_factor.reset_for(db, user_id=user.id)
        except AppError as exc:
            print(f"error: {exc.code.message}", file=sys.stderr)
            return 1
    print(f"two-factor sign-in is off for {user.email}: the password alone signs in")
    return 0


def _purge(db: Session, *, settings: Settings) -> tuple[int, int, int, int, int]:
    now = utcnow()
    dead = sessions.purge_dead_sessions(db, now=now)
    counters = throttle.purge_expired(db, settings=settings, now=now)
    events = audit.prune(db, retention_days=settings.audit_retention_days, now=now)
    return dead, counters, events, live.prune(db), attachments.delete_orphans(db, now=now)


def cleanup(settings: Settings, _args: argparse.Namespace) -> int:
    """`cleanup`: delete expired sessions, stale throttle counters, audit events
    older than AUDIT_RETENTION_DAYS, live-update changes past the newest 10,000, and
    stored files that no row names (left by a crash), once they are an hour old."""
    with system_session(settings) as db:
        dead, counters, events, changes, files = _purge(db, settings=settings)
    print(
        f"deleted {dead} expired or revoked sessions, {counters} stale throttle counters, "
        f"{events} audit events past retention, {changes} old live-update changes, "
        f"{files} stored files without a row"
    )
    return 0


def backup_command(settings: Settings, args: argparse.Namespace) -> int:
    """`backup PATH`: an online, consistent copy of the SQLite database."""
    source = backup.backup(settings.database_url, Path(args.path))
    print(f"backed up {source} to {args.path}")
    return 0


def restore_command(settings: Settings, args: argparse.Namespace) -> int:
    """`restore PATH`: replace the SQLite database with a backup, unless it is in use."""
    target = backup.restore(settings.database_url, Path(args.path))
    print(f"restored {target} from {args.path}; the next start migrates it if it is older")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m app`; each command sets its `handler`."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="migrate, create the first admin, then serve")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--workers", type=int, help="default: WEB_CONCURRENCY, else per CPU")
    serve_parser.add_argument("--reload", action="store_true", help="restart on code changes")
    serve_parser.set_defaults(handler=serve)
    migrate_parser = commands.add_parser("migrate", help="apply migrations, create first admin")
    migrate_parser.set_defaults(handler=migrate_command)
    admin = commands.add_parser("create-admin", help="create an admin, or promote a user")
    admin.add_argument("--email")
    admin.add_argument("--password", help="prompted for when a new account needs one")
    admin.set_defaults(handler=create_admin)
    reset = commands.add_parser("reset-two-factor", help="turn an account's two-factor off")
    reset.add_argument("--email", required=True)
    reset.set_defaults(handler=reset_two_factor)
    cleanup_parser = commands.add_parser("cleanup", help="delete expired rows and orphaned files")
    cleanup_parser.set_defaults(handler=cleanup)
    backup_parser = commands.add_parser("backup", help="copy the SQLite database, while it runs")
    backup_parser.add_argument("path", help="the new backup file (must not exist)")
    backup_parser.set_defaults(handler=backup_command)
    restore_parser = commands.add_parser("restore", help="replace the SQLite database (stopped)")
    restore_parser.add_argument("path", help="a file made by backup")
    restore_parser.set_defaults(handler=restore_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(f"Configuration error: {describe_validation_error(exc, upper=True)}", file=sys.stderr)
        return 2
    logging.config.dictConfig(logging_config(settings.log_level))
    handler: Handler = args.handler
    audit_log = logging.getLogger("app.services.audit")
    if handler is not serve:  # a one-off command's audit events stay in the database
        audit_log.setLevel(logging.WARNING)
    try:
        return handler(settings, args)
    except backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OperationalError, InterfaceError) as exc:
        print(
            f"Database error: {describe_unreachable(exc, settings.database_url)}", file=sys.stderr
        )
        return 1
    finally:
        audit_log.setLevel(logging.NOTSET)


if __name__ == "__main__":
    sys.exit(main())
