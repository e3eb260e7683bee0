// Starts the real service (`python -m app serve`) on a free port of 127.0.0.1 with a
// fresh SQLite file, and gives its base URL; fails loudly when it does not come up.
// Also: the tests' Python helpers (`startPython`) and Debian's Chromium (`launchChromium`).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const START_TIMEOUT_MS = 60_000;
// Debian's Chromium, headless, with nothing that reaches out to the internet.
export const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// Debian's headless Chromium with a fresh profile, removed once `context.close()` has
// stopped the browser; `options` go to playwright's launchPersistentContext (viewport...).
export async function launchChromium(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), "browser-test-profile-"));
  const forget = () => rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: FLAGS,
      ...options,
    });
    const close = context.close.bind(context);
    context.close = async (closeOptions) => {
      await close(closeOptions);
      forget();
    };
    return context;
  } catch (error) {
    forget();
    throw error;
  }
}

// A web server on 127.0.0.1 that answers every GET with `html`.
export async function pageServer(html) {
  const port = await freePort();
  const server = createHttpServer((request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end(html);
  });
  await new Promise((done) => server.listen(port, "127.0.0.1", done));
  return { port, close: () => new Promise((done) => server.close(done)) };
}

export function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

// The project's virtualenv if there is one, else `uv run --frozen`.
function pythonCommand() {
  const venv = join(ROOT, ".venv", "bin", "python");
  if (existsSync(venv)) return [venv];
  return ["uv", "run", "--frozen", "--project", ROOT, "python"];
}

// Named checks, TAP style: `check(name, run)` prints "ok - name", or "not ok - name"
// with the error and goes on; `failures()` counts those that failed.
export function checker() {
  let failed = 0;
  const check = async (name, run) => {
    try {
      await run();
      console.log(`ok - ${name}`);
    } catch (error) {
      failed += 1;
      console.log(`not ok - ${name}\n  ${String(error.stack ?? error).replaceAll("\n", "\n  ")}`);
    }
  };
  return { check, failures: () => failed };
}

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// A Python program of the tests (`args` after `python`, run in the repository) whose
// output says it is ready by matching `ready`; gives that match and all its output.
export async function startPython(args, ready) {
  const [command, ...prefix] = pythonCommand();
  const child = spawn(command, [...prefix, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PYTHONUNBUFFERED: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const deadline = Date.now() + START_TIMEOUT_MS;
  let match;
  while (!(match = output.match(ready))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${args.join(" ")} did not start:\n${output}`);
    }
    await sleep(100);
  }
  return { match, output: () => output, stop: () => child.kill("SIGKILL") };
}

async function healthy(url) {
  try {
    return (await fetch(`${url}/health`)).status === 200;
  } catch {
    return false;
  }
}

export async function startServer({ adminEmail, adminPassword, env: extra = {}, port: chosen }) {
  const port = chosen ?? (await freePort());
  const scratch = mkdtempSync(join(tmpdir(), "back-office-test-"));
  const [command, ...prefix] = pythonCommand();
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PYTHONPATH: ROOT,
    ENVIRONMENT: "development",
    DATABASE_URL: `sqlite:///${join(scratch, "app.db")}`,
    JWT_SECRET_KEY: `browser-test-${Math.random().toString(36).slice(2)}-${"k".repeat(32)}`,
    FIRST_ADMIN_EMAIL: adminEmail,
    FIRST_ADMIN_PASSWORD: adminPassword,
    BCRYPT_ROUNDS: "4",
    LOG_LEVEL: "warning",
    ...extra,
  };
  const args = [...prefix, "-m", "app", "serve", "--host", "127.0.0.1", "--port", String(port)];
  // cwd is the scratch folder: no developer's .env or app.db is read.
  const child = spawn(command, args, { cwd: scratch, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));
  child.on("error", (error) => (exited = { error }));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await healthy(url))) {
    if (exited || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(scratch, { recursive: true, force: true });
      const why = exited ? `exited (${JSON.stringify(exited)})` : "did not answer /health in time";
      throw new Error(`the server ${why}: ${command} ${args.join(" ")}\n${output}`);
    }
    await sleep(200);
  }
  return {
    url,
    log: () => output,
    async stop() {
      child.kill("SIGTERM");
      for (let waited = 0; !exited && waited < 10_000; waited += 100) await sleep(100);
      if (!exited) child.kill("SIGKILL");
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
