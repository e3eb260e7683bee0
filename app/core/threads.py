"""The threads that do blocking work for the event loop: database work and bcrypt.

Each process has three small pools, and the database pool holds a connection for
each of their threads:

* reads: DATABASE_READ_THREADS (1). A read is mostly Python, which runs one thread at
  a time: more threads would only take the interpreter lock from each other and from
  the event loop.
* writes: DATABASE_POOL_SIZE (4; 2 on SQLite, which writes one transaction at a
  time). Writers wait on their commits, so a few of them overlap.
* hashing: two per PASSWORD_HASH_CONCURRENCY (1), for work that checks or sets a
  password. The hasher runs at most PASSWORD_HASH_CONCURRENCY bcrypt hashes at once
  (`PasswordHasher`); the second thread does the database work of the next or the
  last check meanwhile, so bcrypt never waits for it nor for the busy event loop.
  Work first waits for a slot (a thread) without one, at most MAX_WAIT_SECONDS, then
  503 `HashingBusy`. A job whose client has gone by the time its slot frees is dropped
  (`RequestAbandoned`).

Work waits for a thread in its pool's queue, never on a thread, and it runs in a copy
of the caller's context (the request's origin is kept in a context variable).
"""

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, TypeVarTuple

import anyio

from app.core.config import Settings
from app.core.errors import AppError, ErrorCode
from app.core.metrics import Tally, tally

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
Abandoned = Callable[[], Awaitable[bool]]

# How long work waits for a hashing slot before its client is asked to come back: a
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


class Threads:
    """The thread pools of one app."""

    def __init__(self, settings: Settings) -> None:
        # `make bench` (a) 0.40 and (f) /items 0.31 x the limit app with one pool for reads
        # and writes, 0.42 and 0.33 with two (3 runs each, 2026-12-04).
        self.reading = _pool(settings.database_read_threads, "read")
        self.writing = _pool(settings.database_write_threads, "write")
        self.hashing = _pool(settings.password_hash_threads, "hash")
        self._tally: Tally | None = tally() if settings.metrics_enabled else None
        self._hash_slots = anyio.Semaphore(settings.password_hash_threads)

    async def run(self, fn: Callable[[*Ts], T], *args: *Ts, writes: bool) -> T:
        """`fn(*args)` on a writing thread, or a reading one."""
        pool = self.writing if writes else self.reading
        return await _on(pool, self._timed(fn, "write" if writes else "read"), *args)

    async def run_hashing(
        self, fn: Callable[[*Ts], T], *args: *Ts, abandoned: Abandoned | None = None
    ) -> T:
        """`fn(*args)` on a hashing thread, once a hashing slot is free."""
        queued = time.perf_counter()
        async with self._hash_slot(abandoned):
            return await _on(self.hashing, self._timed(fn, "hash", queued), *args)

    def _timed(
        self, fn: Callable[[*Ts], T], pool: str, queued: float | None = None
    ) -> Callable[[*Ts], T]:
        """`fn`, observing how long it waited for a thread (when metrics are on)."""
        if self._tally is None:
            return fn
        waits, since = self._tally.waits, queued or time.perf_counter()

        def timed(*args: *Ts) -> T:
            waits.append((pool, time.perf_counter() - since))
            return fn(*args)

        return timed

    @contextlib.asynccontextmanager
    async def _hash_slot(self, abandoned: Abandoned | None) -> AsyncIterator[None]:
        acquired = False
        with anyio.move_on_after(MAX_WAIT_SECONDS):
            await self._hash_slots.acquire()
            acquired = True
        if not acquired:
            raise HashingBusy
        try:
            if abandoned is not None and await abandoned():
                raise RequestAbandoned
            yield
        finally:
            self._hash_slots.release()

    def close(self) -> None:
        """Stop the threads (work still queued is dropped)."""
        for pool in (self.reading, self.writing, self.hashing):
            pool.shutdown(wait=False, cancel_futures=True)


def _pool(threads: int, name: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)


async def _on(pool: ThreadPoolExecutor, fn: Callable[[*Ts], T], *args: *Ts) -> T:
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(pool, context.run, fn, *args)
