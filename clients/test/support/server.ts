/**
 * Starts the real API for the tests: a free port on 127.0.0.1, a fresh SQLite
 * file in a temporary folder, a throwaway signing key and a first admin. Stops
 * it (and deletes the folder) at the end. Any failure to start is an error that
 * names the cause: the test run must not go on without a server.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface RunningApi {
  /** Server root, e.g. `http://127.0.0.1:41234`. */
  baseUrl: string;
  adminEmail: string;
  adminPassword: string;
  jwtSecret: string;
  stop: () => Promise<void>;
}

/** The repository root: the folder above `clients/` that holds `app/`. */
export function repoRoot(): string {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
  if (!existsSync(join(root, "app", "__main__.py"))) {
    throw new Error(`Cannot find the API: ${join(root, "app", "__main__.py")} does not exist`);
  }
  return root;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function which(command: string): string | null {
  for (const folder of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(folder, command);
    if (folder && existsSync(candidate)) return candidate;
  }
  return null;
}

/** How to run the project's Python: its virtualenv, else uv (which syncs it). */
function pythonCommand(root: string): string[] {
  const venvPython = join(root, ".venv", "bin", "python");
  if (existsSync(venvPython)) return [venvPython];
  const uv = which("uv") ?? (existsSync(join(root, ".uv", "bin", "uv")) ? join(root, ".uv", "bin", "uv") : null);
  if (uv) return [uv, "run", "--frozen", "--project", root, "python"];
  throw new Error(
    `Cannot start the API: neither ${venvPython} nor uv was found. Run \`make .venv\` in ${root} first.`,
  );
}

/**
 * Runs `python -m app ...` with a watchdog thread: when the test runner goes away
 * however it ends (even killed), the server's stdin closes: the server deletes
 * its temporary folder (its working directory) and stops itself, so nothing
 * outlives the test run.
 */
const WATCHED_MAIN = [
  "import os, runpy, shutil, signal, sys, threading",
  "def _watch():",
  "    while os.read(0, 4096): pass",
  "    shutil.rmtree(os.environ['CLIENTS_TEST_FOLDER'], ignore_errors=True)",
  "    os.kill(os.getpid(), signal.SIGTERM)",
  "threading.Thread(target=_watch, daemon=True).start()",
  "sys.argv[0] = 'app'",
  "runpy.run_module('app', run_name='__main__', alter_sys=True)",
].join("\n");

function exited(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done();
    else child.once("exit", () => done());
  });
}

async function waitForHealth(baseUrl: string, child: ChildProcess, output: () => string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`The API exited (${child.exitCode ?? child.signalCode}) before answering /health:\n${output()}`);
    }
    try {
      const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(5_000) });
      if (response.status === 200) return;
      lastError = `status ${response.status}`;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`The API did not answer /health within ${timeoutMs / 1000} s (${lastError}):\n${output()}`);
}

/** Starts the API; resolves once `/health` answers 200. */
export async function startApi(options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunningApi> {
  const root = repoRoot();
  const command = pythonCommand(root);
  const folder = mkdtempSync(join(tmpdir(), "sqlmodel-api-clients-"));
  const adminEmail = "admin@example.com";
  const adminPassword = `admin-${randomBytes(9).toString("base64url")}`;
  const jwtSecret = randomBytes(36).toString("base64url");
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Nothing from the developer's shell may change the server under test.
  for (const key of Object.keys(env)) {
    if (/^(DATABASE_|JWT_|CORS_|FIRST_ADMIN_|LOGIN_|ACCESS_TOKEN_|REFRESH_TOKEN_|ALLOW_REGISTRATION|REQUIRE_EMAIL|SMTP_|WEB_CONCURRENCY|API_V1_PREFIX)/.test(key)) {
      delete env[key];
    }
  }
  Object.assign(env, {
    // The server runs in the temporary folder (so no ./.env of the developer is
    // read and nothing is written to the repository), importing the app from root.
    PYTHONPATH: [root, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
    PYTHONUNBUFFERED: "1",
    CLIENTS_TEST_FOLDER: folder,
    DATABASE_URL: `sqlite:///${join(folder, "api.db")}`,
    ENVIRONMENT: "development",
    JWT_SECRET_KEY: jwtSecret,
    JWT_SECRET_KEY_FILE: join(folder, "jwt-secret"),
    BCRYPT_ROUNDS: "4",
    FIRST_ADMIN_EMAIL: adminEmail,
    FIRST_ADMIN_PASSWORD: adminPassword,
    LOGIN_MAX_FAILURES_PER_EMAIL: "1000", // throttling has its own tests in the API
    LOGIN_MAX_FAILURES_PER_IP: "1000",
    ACCESS_TOKEN_EXPIRE_MINUTES: "30",
    REFRESH_GRACE_SECONDS: "0", // a spent token is refused at once (tabs: tests/browser)
    WEB_CONCURRENCY: "1",
    LOG_LEVEL: "warning",
    ...options.env,
  });

  const cleanUp = () => rmSync(folder, { recursive: true, force: true });
  let lastFailure: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const [program, ...args] = command as [string, ...string[]];
    const child = spawn(program, [...args, "-c", WATCHED_MAIN, "serve", "--host", "127.0.0.1", "--port", String(port)], {
      cwd: folder,
      env,
      stdio: ["pipe", "pipe", "pipe"], // stdin: the watchdog's lifeline, never written to
      detached: true, // its own process group, so stop() also ends a `uv run` child
    });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const spawnFailed = new Promise<never>((_, reject) => child.once("error", reject));
    spawnFailed.catch(() => undefined);

    const stop = async () => {
      child.stdin?.end();
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        const done = exited(child);
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          child.kill("SIGTERM");
        }
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid!, "SIGKILL");
          } catch {
            child.kill("SIGKILL");
          }
        }, 15_000);
        await done;
        clearTimeout(timer);
      }
    };
    try {
      await Promise.race([waitForHealth(baseUrl, child, () => output, options.timeoutMs ?? 120_000), spawnFailed]);
      let stopped = false;
      return {
        baseUrl,
        adminEmail,
        adminPassword,
        jwtSecret,
        stop: async () => {
          if (stopped) return;
          stopped = true;
          await stop();
          cleanUp();
        },
      };
    } catch (error) {
      lastFailure = error;
      await stop();
      // Another process may have taken the port between the probe and the bind: try another.
      if (!/address already in use|Errno 98/i.test(output)) break;
    }
  }
  cleanUp();
  throw lastFailure instanceof Error ? lastFailure : new Error(String(lastFailure));
}
