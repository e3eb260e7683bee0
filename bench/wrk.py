"""wrk, driven from 127.0.0.1: one Lua script per run, its figures read back from `done()`.

The script sets the method, headers and body (or rotates through several bodies), and
its `done()` writes the figures as `bench <key> <value>` lines, so nothing depends on
the layout of wrk's own report. Counting response statuses (a Lua callback per
response) is asked for only where it matters, since it costs wrk some speed.
"""

import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

WARMUP_SECONDS = 2
DEFAULT_TIMEOUT_SECONDS = 2  # wrk's own default, written out

DONE = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local e = summary.errors
  local function put(key, value) io.write(string.format("bench %s %d\\n", key, value)) end
  put("requests", summary.requests)
  put("duration_us", summary.duration)
  put("p50_us", latency:percentile(50))
  put("p99_us", latency:percentile(99))
  put("non_2xx", e.status)
  put("connect", e.connect)
  put("read", e.read)
  put("write", e.write)
  put("timeout", e.timeout)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do put("status_" .. status, count) end
    put("retry_after", thread:get("retry_after") or 0)
  end
end
"""

COUNT_STATUSES = """
statuses = {}
retry_after = 0
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 503 and (headers["retry-after"] or headers["Retry-After"]) then
    retry_after = retry_after + 1
  end
end
"""

ROTATE_BODIES = """
local offset = 0
function setup(thread)
  table.insert(threads, thread)
  offset = offset + 7
  thread:set("next_body", offset)
end
function request()
  next_body = next_body + 1
  return wrk.format(nil, nil, nil, bodies[next_body % #bodies + 1])
end
"""


@dataclass(frozen=True)
class Load:
    """What one wrk run sends: a URL, a bearer token, JSON bodies (POST when any)."""

    url: str
    connections: int
    token: str | None = None
    bodies: tuple[str, ...] = ()
    count_statuses: bool = False
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True)
class SocketErrors:
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0

    @property
    def total(self) -> int:
        return self.connect + self.read + self.write + self.timeout

    def __str__(self) -> str:
        return f"{self.connect}/{self.read}/{self.write}/{self.timeout}"


@dataclass(frozen=True)
class WrkResult:
    """The figures of one wrk run; `statuses` only when counted."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: SocketErrors
    statuses: dict[int, int] = field(default_factory=dict)
    retry_after_503: int = 0

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def stalled(self) -> bool:
        return self.requests == 0

    @property
    def failed(self) -> bool:
        """Any non-2xx answer but a 503 with `Retry-After` (a full sign-in queue asking
        to come back), any socket error or timeout, or no answer at all."""
        refused = self.non_2xx - self.retry_after_503
        return self.stalled or refused > 0 or self.errors.total > 0

    def rate_of(self, low: int, high: int) -> float:
        """Responses per second with a status in [low, high] (statuses counted)."""
        count = sum(n for status, n in self.statuses.items() if low <= status <= high)
        return count / self.seconds if self.seconds else 0.0


def lua_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def lua_script(load: Load) -> str:
    lines = [DONE]
    if load.token:
        lines.append(f'wrk.headers["Authorization"] = {lua_string("Bearer " + load.token)}')
    if load.bodies:
        lines += [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f"wrk.body = {lua_string(load.bodies[0])}",
        ]
    if len(load.bodies) > 1:
        lines.append("bodies = {" + ", ".join(lua_string(b) for b in load.bodies) + "}")
        lines.append(ROTATE_BODIES)
    if load.count_statuses:
        lines.append(COUNT_STATUSES)
    return "\n".join(lines) + "\n"


def parse(output: str) -> WrkResult:
    """The figures written by the script's `done()`."""
    values: dict[str, int] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "bench":
            values[parts[1]] = values.get(parts[1], 0) + int(parts[2])
    if "requests" not in values:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    statuses = {
        int(key.removeprefix("status_")): count
        for key, count in values.items()
        if key.startswith("status_")
    }
    return WrkResult(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
        non_2xx=values["non_2xx"],
        errors=SocketErrors(*(values[key] for key in ("connect", "read", "write", "timeout"))),
        statuses=statuses,
        retry_after_503=values.get("retry_after", 0),
    )


class Wrk:
    """Starts wrk runs (2 threads), each with a Lua script written to `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def start(self, load: Load, seconds: int) -> "subprocess.Popen[str]":
        script = self.workdir / f"{uuid.uuid4().hex}.lua"
        script.write_text(lua_script(load))
        command = ["wrk", "-t2", f"-c{load.connections}", f"-d{seconds}s", "--latency"]
        command += [f"--timeout={load.timeout_seconds}s", "-s", str(script), load.url]
        return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    def finish(self, process: "subprocess.Popen[str]") -> WrkResult:
        output, _ = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed ({process.returncode}):\n{output}")
        return parse(output)

    def warm_up(self, load: Load, seconds: int = WARMUP_SECONDS) -> None:
        self.finish(self.start(load, seconds))

    def measure(self, load: Load, seconds: int) -> WrkResult:
        return self.finish(self.start(load, seconds))
