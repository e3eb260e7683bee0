// A mailed link with the image alone (FRONTEND_URL unset), in Debian's headless
// Chromium against the real server: the reset mail goes through a real SMTP server on
// loopback (smtp_sink.py), its link opens the service's own page, which sets the new
// password; then the new password signs in and the old one does not. On the page: no
// CSP violation, no console error, no request off 127.0.0.1, and the token leaves the
// address bar.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { FLAGS, freePort, startServer } from "./server.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const SHOTS = join(HERE, "screenshots");
const ADMIN = "admin@example.com";
const PASSWORD = "correct horse battery";
const NEW_PASSWORD = "a brand new password";

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// The SMTP server; `links()` gives every link it has received so far.
async function startSink() {
  const port = await freePort();
  const venv = join(ROOT, ".venv", "bin", "python");
  const [command, ...prefix] = existsSync(venv) ? [venv] : ["uv", "run", "--frozen", "--project", ROOT, "python"];
  const child = spawn(command, [...prefix, join(HERE, "smtp_sink.py"), String(port)], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const deadline = Date.now() + 60_000;
  while (!output.includes("ready")) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the SMTP sink did not start:\n${output}`);
    await sleep(100);
  }
  return {
    port,
    links: () => [...output.matchAll(/^link (\S+)$/gm)].map((match) => match[1]),
    stop: () => child.kill("SIGKILL"),
  };
}

async function api(base, method, path, body) {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.status;
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  const sink = await startSink();
  const port = await freePort();
  const server = await startServer({
    adminEmail: ADMIN,
    adminPassword: PASSWORD,
    port,
    env: {
      SMTP_HOST: "127.0.0.1",
      SMTP_PORT: String(sink.port),
      SMTP_STARTTLS: "false",
      PUBLIC_URL: `http://127.0.0.1:${port}`,
    },
  });
  const profile = mkdtempSync(join(tmpdir(), "mail-links-profile-"));
  let context;
  let failures = 0;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: FLAGS,
      viewport: { width: 390, height: 844 },
    });
    const local = new URL(server.url).host;
    const problems = [];
    context.on("request", (request) => {
      const url = new URL(request.url());
      if (!["data:", "blob:"].includes(url.protocol) && url.host !== local) problems.push(`request left 127.0.0.1: ${url}`);
    });
    await context.route(
      (url) => !["data:", "blob:"].includes(url.protocol) && url.host !== local,
      (route) => route.abort(),
    );
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

    const email = "reader@example.com";
    assert.equal(await api(server.url, "POST", "/auth/register", { email, password: PASSWORD }), 201);
    assert.equal(await api(server.url, "POST", "/auth/password-reset", { email }), 202);
    const deadline = Date.now() + 60_000;
    while (sink.links().length === 0) {
      assert.ok(Date.now() < deadline, "no mail reached the SMTP server");
      await sleep(100);
    }
    const [link] = sink.links();
    assert.ok(link.startsWith(`${server.url}/account/reset-password?token=`), link);

    await page.goto(link);
    await page.waitForSelector("#password");
    assert.ok(!page.url().includes("token="), `the token stays in the address bar: ${page.url()}`);
    await page.fill("#password", NEW_PASSWORD);
    await page.fill("#again", "something else entirely");
    await page.click("button[type=submit]");
    assert.match(await page.textContent("#message"), /differ/);
    await page.fill("#again", NEW_PASSWORD);
    await page.click("button[type=submit]");
    await page.waitForSelector("#message.done", { timeout: 60_000 });
    assert.match(await page.textContent("#message"), /password is changed/);
    await page.screenshot({ path: join(SHOTS, "reset-password-done.png"), fullPage: true });

    assert.equal(await api(server.url, "POST", "/auth/login", { email, password: NEW_PASSWORD }), 200);
    assert.equal(await api(server.url, "POST", "/auth/login", { email, password: PASSWORD }), 401);

    // The same link again: spent.
    await page.goto(link);
    await page.fill("#password", "yet another password");
    await page.fill("#again", "yet another password");
    await page.click("button[type=submit]");
    await page.waitForSelector("#message.error", { timeout: 60_000 });
    assert.match(await page.textContent("#message"), /Invalid or expired reset token/);
    // The 400 of the spent token is reported on the console; that, and only that.
    const expected = "Failed to load resource: the server responded with a status of 400 (Bad Request)";
    assert.deepEqual(problems.filter((problem) => problem !== `console error: ${expected}`), []);
    console.log("ok - a reset mail's link opens the service's page, which sets the new password");
  } catch (error) {
    failures += 1;
    console.log(`not ok - a reset mail's link\n  ${String(error.stack ?? error).replaceAll("\n", "\n  ")}\n${server.log()}`);
  } finally {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    await server.stop();
    sink.stop();
  }
  if (failures > 0) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
