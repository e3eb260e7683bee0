"""Command line: `python -m app serve | migrate | create-admin | cleanup`."""

import argparse
import getpass
import logging
import logging.config
import os
import sys
from collections.abc import Sequence

import uvicorn
from pydantic import ValidationError
from sqlmodel import Session

from app.config import Settings, describe_validation_error, get_settings
from app.db import create_db_engine
from app.logs import logging_config
from app.migrations import migrate
from app.models import Role, UserCreate, utcnow
from app.security import PasswordHasher
from app.sessions import purge_dead_sessions
from app.throttle import purge_expired
from app.users import create_user, get_user_by_email

logger = logging.getLogger("app.cli")


def default_workers(settings: Settings) -> int:
    """WEB_CONCURRENCY if set; else one per CPU in production, one otherwise."""
    if settings.web_concurrency:
        return settings.web_concurrency
    if settings.environment != "production":
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ensure_admin(settings: Settings, email: str, password: str | None) -> str:
    """Make `email` an active admin, creating the account when it does not exist.

    Returns what was done. Raises `ValueError` when a new account has no valid password.
    """
    engine = create_db_engine(settings)
    try:
        with Session(engine) as session:
            user = get_user_by_email(session, email)
            if user is not None:
                if user.role == Role.ADMIN and user.is_active:
                    return f"{user.email} is already an active admin"
                user.role, user.is_active, user.updated_at = Role.ADMIN, True, utcnow()
                session.add(user)
                session.commit()
                return f"{user.email} promoted to admin"
            if password is None:
                raise ValueError("a password is needed to create the account")
            try:
                user_in = UserCreate(email=email, password=password, role=Role.ADMIN)
            except ValidationError as exc:
                raise ValueError(describe_validation_error(exc)) from None
            hasher = PasswordHasher(settings.bcrypt_rounds, 1)
            try:
                password_hash = hasher.hash_sync(user_in.password)
            finally:
                hasher.close()
            create_user(session=session, user_in=user_in, password_hash=password_hash)
            return f"admin {user_in.email} created"
    finally:
        engine.dispose()


def account_exists(settings: Settings, email: str) -> bool:
    """Whether an account uses `email`."""
    engine = create_db_engine(settings)
    try:
        with Session(engine) as session:
            return get_user_by_email(session, email) is not None
    finally:
        engine.dispose()


def ensure_first_admin(settings: Settings) -> None:
    """Create FIRST_ADMIN_EMAIL as an admin when it is configured and absent."""
    email, password = settings.first_admin_email, settings.first_admin_password
    if email and password and not account_exists(settings, email):
        logger.info(ensure_admin(settings, email, password.get_secret_value()))


def prepare_database(settings: Settings) -> None:
    """Apply migrations, then create the first admin if configured."""
    migrate(settings.database_url)
    ensure_first_admin(settings)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    prepare_database(settings)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=None if args.reload else args.workers or default_workers(settings),
        reload=args.reload,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_config=logging_config(settings.log_level),
        server_header=False,
    )
    return 0


def _create_admin(settings: Settings, args: argparse.Namespace) -> int:
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


def _cleanup(settings: Settings, _args: argparse.Namespace) -> int:
    engine = create_db_engine(settings)
    try:
        with Session(engine) as session:
            now = utcnow()
            sessions = purge_dead_sessions(session, now)
            counters = purge_expired(session, settings, now)
    finally:
        engine.dispose()
    print(f"deleted {sessions} expired or revoked sessions, {counters} stale throttle counters")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m app`."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate, create the first admin, then serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, help="default: WEB_CONCURRENCY, else per CPU")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    commands.add_parser("migrate", help="apply migrations and create the first admin")
    admin = commands.add_parser("create-admin", help="create an admin, or promote a user")
    admin.add_argument("--email")
    admin.add_argument("--password", help="prompted for when a new account needs one")
    commands.add_parser("cleanup", help="delete expired sessions and throttle counters")
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
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "migrate":
        prepare_database(settings)
        return 0
    if args.command == "create-admin":
        return _create_admin(settings, args)
    return _cleanup(settings, args)


if __name__ == "__main__":
    sys.exit(main())
