// The back office end to end, in Debian's headless Chromium against the real server:
// sign in as admin, deactivate a user (their API token stops working), create, edit
// and delete an item, revoke a session, sign out; a USER cannot sign in. On every page:
// no CSP violation, no console error, and no request leaves 127.0.0.1; the same for
// the API's Swagger UI.
// Screenshots of each screen go to ./screenshots (git-ignored; CI keeps them).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "./server.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(HERE, "screenshots");
const PASSWORD = "correct horse battery";
const ADMIN = "admin@example.com";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const steps = [];
const step = (name, run) => steps.push({ name, run });

async function api(base, method, path, { body, token } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers,
    body: body && JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

async function account(base, email) {
  const created = await api(base, "POST", "/auth/register", { body: { email, password: PASSWORD } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const signedIn = await api(base, "POST", "/auth/login", { body: { email, password: PASSWORD } });
  assert.equal(signedIn.status, 200);
  return { id: created.body.id, email, token: signedIn.body.accessToken };
}

// What every page must not do; checked after each step.
function watch(context, page, base) {
  const problems = [];
  const local = new URL(base).host;
  context.on("request", (request) => {
    const url = new URL(request.url());
    if (!["data:", "blob:"].includes(url.protocol) && url.host !== local) {
      problems.push(`request left 127.0.0.1: ${request.url()}`);
    }
  });
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return problems;
}

async function shot(page, name) {
  await page.waitForLoadState("load");
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page, base, email) {
  await page.goto(`${base}/admin/login`);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
}

function defineSteps(page, base, people, problems) {
  const { user, target, holder } = people;
  let itemUrl = null;

  step("Swagger UI renders under its Content Security Policy", async () => {
    await page.goto(`${base}/api/v1/docs`);
    await page.waitForSelector(".swagger-ui .info .title");
    await page.waitForSelector("#operations-users-users-me-read");
    await shot(page, "api-docs");
  });

  step("a USER gets the answer of a wrong password", async () => {
    await page.goto(`${base}/admin/login`);
    await shot(page, "login");
    await signIn(page, base, user.email);
    assert.match(await page.textContent(".alert-danger"), /Invalid email or password/);
    assert.equal(new URL(page.url()).pathname, "/admin/login");
    await shot(page, "login-refused");
    // The page answers 401, as /auth/login does; Chromium reports a document's 4xx
    // status on the console. That report, and only that, is expected here.
    const status = "Failed to load resource: the server responded with a status of 401";
    assert.deepEqual(problems.splice(0), [`console error: ${status} (Unauthorized)`]);
  });

  step("an admin signs in and sees the figures", async () => {
    await signIn(page, base, ADMIN);
    assert.equal(new URL(page.url()).pathname, "/admin/");
    const figures = await page.locator(".figure-card .h1").allTextContents();
    // users, admins, live sessions (three API sign-ins and this one), items
    assert.deepEqual(figures.map(Number), [4, 1, 4, 0]);
    await shot(page, "home");
  });

  step("find a user and deactivate them: their API token is refused", async () => {
    await page.click("a.nav-link:has-text('Users')");
    await page.fill("#search-input", "target@");
    await Promise.all([page.waitForURL(/search=target/), page.click("#search-button")]);
    assert.equal(await page.locator("tbody tr").count(), 1);
    await shot(page, "users");
    await page.click(`a[href*="/admin/user/details/${target.id}"]`);
    await shot(page, "user-details");
    await page.click(`a[href$="/admin/user/edit/${target.id}"]`);
    await page.uncheck("input[name=is_active]");
    await shot(page, "user-edit");
    await Promise.all([page.waitForURL(/\/admin\/user\/list/), page.click("input[value=Save]")]);
    const me = await api(base, "GET", "/users/me", { token: target.token });
    assert.equal(me.status, 401);
  });

  step("the create-user form asks for the password twice", async () => {
    await page.goto(`${base}/admin/user/create`);
    assert.equal(await page.locator("input[type=password]").count(), 2);
    await shot(page, "user-create");
  });

  step("create an item", async () => {
    await page.click("a.nav-link:has-text('Items')");
    await page.click("a:has-text('New Item')");
    await page.fill("input[name=title]", "Quarterly report");
    await page.fill("textarea[name=description]", "Numbers for the board.");
    await shot(page, "item-create");
    await Promise.all([page.waitForURL(/\/admin\/item\/list/), page.click("input[value=Save]")]);
    await page.waitForSelector("td:has-text('Quarterly report')");
    assert.match(await page.textContent("tbody"), /admin@example\.com/);
    await shot(page, "items");
    itemUrl = await page.getAttribute("a[href*='/admin/item/edit/']", "href");
  });

  step("edit the item", async () => {
    await page.goto(new URL(itemUrl, base).href);
    await page.fill("input[name=title]", "Quarterly report (final)");
    await Promise.all([page.waitForURL(/\/admin\/item\/list/), page.click("input[value=Save]")]);
    await page.waitForSelector("td:has-text('Quarterly report (final)')");
  });

  step("delete the item", async () => {
    await page.click("a[data-bs-target='#modal-delete'][data-pk]");
    await page.waitForFunction(() => document.querySelector("#modal-delete-text")?.textContent);
    await shot(page, "item-delete");
    await page.click("#modal-delete-button");
    await page.waitForSelector("td:has-text('Quarterly report')", { state: "detached" });
    assert.equal(await page.locator(".alert-danger").count(), 0);
  });

  step("revoke a session: its API token is refused", async () => {
    const sessions = await api(base, "GET", "/auth/sessions", { token: holder.token });
    const id = sessions.body[0].id;
    await page.click("a.nav-link:has-text('Sessions')");
    await page.click("a:has-text('Live')");
    await shot(page, "sessions");
    await page.check(`tr:has(input[type=hidden][value="${id}"]) input.select-box`);
    await page.click("#dropdownMenuButton");
    await page.click("#action-customconfirm-revoke");
    await page.waitForSelector("#modal-confirmation-revoke.show");
    await shot(page, "session-revoke");
    await Promise.all([page.waitForLoadState("load"), page.click("#action-custom-modal-revoke")]);
    await page.goto(`${base}/admin/session/details/${id}`);
    assert.match(await page.textContent("tbody"), /revoked/);
    const me = await api(base, "GET", "/users/me", { token: holder.token });
    assert.equal(me.status, 401);
  });

  step("the audit log shows what was just done, and by whom", async () => {
    await page.click("a.nav-link:has-text('Audit log')");
    const rows = await page.locator("tbody tr").allTextContents();
    const newest = rows[0].replace(/\s+/g, " ");
    assert.match(newest, /session\.revoked success admin@example\.com session: holder@example\.com/);
    for (const action of ["user.deactivated", "auth.login.succeeded", "auth.login.failed"]) {
      assert.ok(rows.some((row) => row.includes(action)), action);
    }
    await shot(page, "audit-log");
    await page.click("tbody tr:has(td:has-text('user.deactivated')) a[href*='/details/']");
    assert.match(await page.textContent("tbody"), /target@example\.com/);
    assert.match(await page.textContent("tbody"), /is_active/);
    await shot(page, "audit-event");
  });

  step("sign out", async () => {
    await Promise.all([page.waitForURL(/\/admin\/login/), page.click("a[href$='/admin/logout']")]);
    await page.goto(`${base}/admin/`);
    assert.equal(new URL(page.url()).pathname, "/admin/login");
  });
}

async function main() {
  rmSync(SHOTS, { recursive: true, force: true });
  mkdirSync(SHOTS, { recursive: true });
  const server = await startServer({ adminEmail: ADMIN, adminPassword: PASSWORD });
  const profile = mkdtempSync(join(tmpdir(), "back-office-chromium-"));
  let context = null;
  let failures = 0;
  try {
    const people = {
      user: await account(server.url, "user@example.com"),
      target: await account(server.url, "target@example.com"),
      holder: await account(server.url, "holder@example.com"),
    };
    context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: FLAGS,
      viewport: { width: 1440, height: 900 },
    });
    // Anything not served by the test server is refused (and reported by `watch`).
    const local = new URL(server.url).host;
    await context.route(
      (url) => !["data:", "blob:"].includes(url.protocol) && url.host !== local,
      (route) => route.abort(),
    );
    const page = context.pages()[0] ?? (await context.newPage());
    const problems = watch(context, page, server.url);
    defineSteps(page, server.url, people, problems);
    for (const { name, run } of steps) {
      try {
        await run();
        assert.deepEqual(problems, [], "problems on the page");
        console.log(`ok - ${name}`);
      } catch (error) {
        failures += 1;
        console.log(`not ok - ${name}\n  ${String(error.stack ?? error).replaceAll("\n", "\n  ")}`);
        problems.length = 0;
      }
    }
  } finally {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    await server.stop();
  }
  const ran = steps.length;
  console.log(`\n${ran - failures}/${ran} steps passed; screenshots in ${SHOTS}`);
  if (ran === 0 || ran !== EXPECTED_STEPS || failures > 0) {
    if (ran !== EXPECTED_STEPS) console.log(`expected ${EXPECTED_STEPS} steps, ran ${ran}`);
    process.exitCode = 1;
  }
}

const EXPECTED_STEPS = 11;

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
