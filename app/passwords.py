"""Password hashing: bcrypt on a few threads of its own, off the event loop."""

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import anyio
import bcrypt

from app.errors import AppError, ErrorCode
from app.fields import PASSWORD_MAX_BYTES

Abandoned = Callable[[], Awaitable[bool]]

QUEUED_PER_THREAD = 2  # the password being hashed and the next one
# How long a request waits for a hashing slot before it is asked to come back: a
# person gets an answer in seconds, not a hang, when sign-ins outrun the CPU.
MAX_WAIT_SECONDS = 5
RETRY_AFTER_SECONDS = 2


class RequestAbandoned(Exception):
    """The client went away while its request waited for a hashing slot."""


class HashingBusy(AppError):
    """No hashing slot came free within MAX_WAIT_SECONDS: 503, come back shortly."""

    def __init__(self) -> None:
        retry_after = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE, headers=retry_after)


class PasswordHasher:
    """bcrypt, run off the event loop on a few threads of its own.

    At most `concurrency` hashes run at once per process, on threads at the same
    CPU priority as the event loop, so the scheduler shares the CPU between a flood
    of sign-ins and a flood of other requests and neither starves. Each thread has
    the next password queued behind the one it hashes, so it never waits for the busy
    event loop to hand it work; the other requests wait for a slot without a thread
    (at most MAX_WAIT_SECONDS, then `HashingBusy`), and one whose client has gone
    away by then is dropped instead of hashed. Checking a password against no hash
    (unknown email) costs the same as a real check.
    """

    def __init__(self, rounds: int, concurrency: int) -> None:
        self.rounds = rounds
        self._slots = anyio.Semaphore(concurrency * QUEUED_PER_THREAD)
        self._executor = ThreadPoolExecutor(
            max_workers=concurrency,
            thread_name_prefix="bcrypt",
        )
        self._dummy_hash = self.hash_sync(os.urandom(16).hex())

    def hash_sync(self, password: str) -> str:
        """Hash `password` on the calling thread."""
        hashed: bytes = bcrypt.hashpw(password.encode(), bcrypt.gensalt(self.rounds))
        return hashed.decode()

    def verify_sync(self, password: str, password_hash: str | None) -> bool:
        """Check `password` on the calling thread; `None` or unusable input is `False`."""
        candidate = _password_bytes(password)
        stored = (password_hash or self._dummy_hash).encode()
        if candidate is None:
            bcrypt.checkpw(b"", self._dummy_hash.encode())
            return False
        matches: bool = bcrypt.checkpw(candidate, stored)
        return matches and password_hash is not None

    async def hash(self, password: str, *, abandoned: Abandoned | None = None) -> str:
        """Hash `password` on the hashing threads.

        `abandoned` (such as `request.is_disconnected`) is asked once a slot is free;
        when it answers true, `RequestAbandoned` is raised and nothing is hashed.
        """
        async with self._slot(abandoned):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self.hash_sync, password)

    async def verify(
        self, password: str, password_hash: str | None, *, abandoned: Abandoned | None = None
    ) -> bool:
        """Check `password` on the hashing threads (`abandoned` as for `hash`)."""
        async with self._slot(abandoned):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, self.verify_sync, password, password_hash
            )

    @contextlib.asynccontextmanager
    async def _slot(self, abandoned: Abandoned | None) -> AsyncIterator[None]:
        """A hashing slot, waited for at most MAX_WAIT_SECONDS (`HashingBusy`), for a
        client still there (`RequestAbandoned`)."""
        acquired = False
        with anyio.move_on_after(MAX_WAIT_SECONDS):
            await self._slots.acquire()
            acquired = True
        if not acquired:
            raise HashingBusy
        try:
            await _check(abandoned)
            yield
        finally:
            self._slots.release()

    def close(self) -> None:
        """Stop the hashing threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


async def _check(abandoned: Abandoned | None) -> None:
    if abandoned is not None and await abandoned():
        raise RequestAbandoned


def _password_bytes(password: str) -> bytes | None:
    try:
        encoded = password.encode()
    except UnicodeEncodeError:
        return None
    return encoded if len(encoded) <= PASSWORD_MAX_BYTES else None
