// The back office end to end, in Debian's headless Chromium against the real server:
// sign in as admin, deactivate a user (their API token stops working), create, edit
// and delete an item (attaching a file to it), revoke a session, set a user's password and send a reset link,
// delete and deactivate the users ticked (not every admin), export users and import
// items as CSV, every screen at a phone's 390 px, set up two-factor sign-in from its QR code page
// and sign in again with a code, sign out; a USER cannot sign in. On every page:
// no CSP violation, no console error, and no request leaves 127.0.0.1; the same for
// the API's Swagger UI.
// Screenshots of each screen go to ./screenshots (git-ignored; CI keeps them).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, startServer } from "./server.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(HERE, "screenshots");
const PASSWORD = "correct horse battery";
const NEW_PASSWORD = "a brand new password";
const ADMIN = "admin@example.com";
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };
const LOG_DEADLINE_MS = 30_000;

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

async function signInThroughApi(base, email, password) {
  return api(base, "POST", "/auth/login", { body: { email, password } });
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

// The notices the page shows (`Item "Report" created.`).
async function noticesOn(page) {
  return (await page.locator(".notices .alert-success").allTextContents()).map((text) => text.trim());
}

// At a phone's width a page fits: nothing but a table's own card scrolls sideways, a
// table keeps room for its columns, and no field, button or card sticks out.
async function assertFitsAPhone(page, name) {
  const layout = await page.evaluate(() => {
    const shown = (element) => element.offsetParent !== null && !element.closest(".table-responsive");
    const wide = [...document.querySelectorAll(".card, .btn, input, select, textarea, .alert")]
      .filter((element) => shown(element) && element.getBoundingClientRect().right > window.innerWidth + 1)
      .map((element) => element.outerHTML.slice(0, 100));
    const tables = [...document.querySelectorAll(".table-responsive")].map((box) => box.clientWidth);
    return { page: document.documentElement.scrollWidth, viewport: window.innerWidth, tables, wide };
  });
  assert.ok(layout.page <= layout.viewport, `${name}: the page is ${layout.page} px wide`);
  for (const width of layout.tables) assert.ok(width >= 300, `${name}: a table is ${width} px wide`);
  assert.deepEqual(layout.wide, [], `${name}: sticks out`);
}

// The server's log, once `pattern` is in it (mail is sent after the response).
async function logged(server, pattern) {
  const deadline = Date.now() + LOG_DEADLINE_MS;
  for (;;) {
    const found = server.log().match(pattern);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`not logged: ${pattern}\n${server.log()}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

// A TOTP code (RFC 6238: SHA-1, 6 digits, 30 s) of a base32 secret, at `when` (ms).
function totp(secret, when = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  const bits = [...secret].map((char) => alphabet.indexOf(char).toString(2).padStart(5, "0")).join("");
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(when / 30_000)));
  const digest = createHmac("sha1", key).update(counter).digest();
  const offset = digest[digest.length - 1] & 0xf;
  return String((digest.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

async function signIn(page, base, email) {
  await page.goto(`${base}/admin/login`);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await Promise.all([page.waitForLoadState("load"), page.click("button[type=submit]")]);
}

function defineSteps(page, server, people, problems) {
  const base = server.url;
  const { user, target, holder, forgetful } = people;
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
    // users, admins, live sessions (four API sign-ins and this one), items
    assert.deepEqual(figures.map(Number), [5, 1, 5, 0]);
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
    assert.deepEqual(await noticesOn(page), ["Item \"Quarterly report\" created."]);
    assert.match(await page.textContent("tbody"), /admin@example\.com/);
    await shot(page, "items");
    itemUrl = await page.getAttribute("a[href*='/admin/item/edit/']", "href");
  });

  step("edit the item", async () => {
    await page.goto(new URL(itemUrl, base).href);
    await page.fill("input[name=title]", "Quarterly report (final)");
    await Promise.all([page.waitForURL(/\/admin\/item\/list/), page.click("input[value=Save]")]);
    await page.waitForSelector("td:has-text('Quarterly report (final)')");
    assert.deepEqual(await noticesOn(page), ["Item \"Quarterly report (final)\" saved."]);
  });

  step("attach a file to the item: it is listed with a download link", async () => {
    await page.goto(new URL(itemUrl.replace("/edit/", "/details/"), base).href);
    assert.equal(await page.textContent("#item-files .card-body.text-secondary"), "No files yet.");
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64)]);
    await page.setInputFiles("#item-file", { name: "chart.png", mimeType: "image/png", buffer: png });
    await Promise.all([page.waitForURL(/\/admin\/item\/details\//), page.click("#item-file-upload button")]);
    assert.deepEqual(await noticesOn(page), ['File "chart.png" uploaded.']);
    const link = page.locator("#item-files-list a:has-text('chart.png')");
    assert.match(await link.getAttribute("href"), /\/admin\/item\/files\/[^/]+\/[^/]+$/);
    await shot(page, "item-files");
    await page.goto(`${base}/admin/item/list`);
  });

  step("delete the item", async () => {
    await page.click("a[data-bs-target='#modal-delete'][data-pk]");
    await page.waitForFunction(() => document.querySelector("#modal-delete-text")?.textContent);
    const question = await page.textContent("#modal-delete-text");
    assert.equal(question, 'Delete item "Quarterly report (final)"? This cannot be undone.');
    await shot(page, "item-delete");
    await page.click("#modal-delete-button");
    await page.waitForSelector("td:has-text('Quarterly report')", { state: "detached" });
    assert.equal(await page.locator(".alert-danger").count(), 0);
    assert.deepEqual(await noticesOn(page), ["Item \"Quarterly report (final)\" deleted."]);
    assert.equal(await page.textContent(".empty-title"), "No items yet.");
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
    assert.equal(await page.textContent("#modal-confirmation-revoke h3"), "Revoke this session?");
    await shot(page, "session-revoke");
    await Promise.all([page.waitForLoadState("load"), page.click("#action-custom-modal-revoke")]);
    assert.deepEqual(await noticesOn(page), ["1 session revoked."]);
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

  step("set a user's password: their sessions end, the new one signs in", async () => {
    await page.goto(`${base}/admin/user/details/${user.id}`);
    await page.fill("#password", NEW_PASSWORD);
    await page.fill("#password_again", NEW_PASSWORD);
    await shot(page, "user-password");
    await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Set password')")]);
    assert.equal(new URL(page.url()).pathname, `/admin/user/details/${user.id}`);
    const notice = `New password set for ${user.email}; their sessions have ended.`;
    assert.deepEqual(await noticesOn(page), [notice]);
    assert.equal(await page.inputValue("#password"), ""); // never shown again
    await page.reload();
    assert.deepEqual(await noticesOn(page), []); // said once
    assert.equal((await api(base, "GET", "/users/me", { token: user.token })).status, 401);
    assert.equal((await signInThroughApi(base, user.email, PASSWORD)).status, 401);
    assert.equal((await signInThroughApi(base, user.email, NEW_PASSWORD)).status, 200);
  });

  step("send a reset link: it is in the server's log, and it works", async () => {
    await page.goto(`${base}/admin/user/details/${forgetful.id}`);
    await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Send reset link')")]);
    const notice = `SMTP is not set up: the password reset link for ${forgetful.email} is in the server's log.`;
    assert.deepEqual(await noticesOn(page), [notice]);
    await shot(page, "user-reset-link");
    const [, link] = await logged(server, /reset link for forgetful@example\.com: (http[^"\s\\]+)/);
    const token = new URL(link).searchParams.get("token");
    const body = { token, newPassword: NEW_PASSWORD };
    assert.equal((await api(base, "POST", "/auth/password-reset/confirm", { body })).status, 204);
    assert.equal((await signInThroughApi(base, forgetful.email, NEW_PASSWORD)).status, 200);
  });

  step("delete the users ticked on the list: the question counts them", async () => {
    for (const email of ["leaver-1@example.com", "leaver-2@example.com"]) await account(base, email);
    await page.goto(`${base}/admin/user/list?search=leaver-`);
    for (const box of await page.locator("input.select-box").all()) await box.check();
    await page.click("#dropdownMenuButton");
    await page.click("#action-delete:has-text('Delete selected users')");
    await page.waitForFunction(() => document.querySelector("#modal-delete-text")?.textContent);
    assert.equal(await page.textContent("#modal-delete-text"), "Delete 2 users? This cannot be undone.");
    await shot(page, "users-delete");
    await Promise.all([page.waitForURL(/search=leaver-/), page.click("#modal-delete-button")]);
    await page.waitForSelector(".empty-title");
    assert.equal(await page.textContent(".empty-title"), "No users match.");
    assert.deepEqual(await noticesOn(page), ["2 users deleted."]);
  });

  step("deactivate the users ticked; a selection with every admin changes nothing", async () => {
    const movers = [];
    for (const email of ["mover-1@example.com", "mover-2@example.com"]) movers.push(await account(base, email));
    await page.goto(`${base}/admin/user/list?search=mover-`);
    for (const box of await page.locator("input.select-box").all()) await box.check();
    await page.click("#dropdownMenuButton");
    await page.click("#action-customconfirm-deactivate");
    await page.waitForSelector("#modal-confirmation-deactivate.show");
    const question = await page.textContent("#modal-confirmation-deactivate h3");
    assert.equal(question, "Deactivate these 2 users? They are signed out everywhere.");
    await shot(page, "users-deactivate");
    await Promise.all([page.waitForLoadState("load"), page.click("#action-custom-modal-deactivate")]);
    assert.deepEqual(await noticesOn(page), ["2 users deactivated."]);
    for (const mover of movers) {
      assert.equal((await api(base, "GET", "/users/me", { token: mover.token })).status, 401);
    }
    await page.goto(`${base}/admin/user/list?search=admin@`);
    await page.locator("input.select-box").check();
    await page.click("#dropdownMenuButton");
    await page.click("#action-customconfirm-deactivate");
    await page.waitForSelector("#modal-confirmation-deactivate.show");
    await Promise.all([page.waitForLoadState("load"), page.click("#action-custom-modal-deactivate")]);
    assert.equal((await page.textContent(".alert-danger")).trim(), "The last active admin must remain");
    assert.match(page.url(), /search=admin%40/);
    await shot(page, "users-deactivate-refused");
    await page.goto(`${base}/admin/`); // still signed in: nothing changed
    assert.equal(new URL(page.url()).pathname, "/admin/");
  });

  step("export the users as the list shows them: a CSV file without secrets", async () => {
    await page.goto(`${base}/admin/user/list?search=mover-&sortBy=email&sort=desc`);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
    assert.match(download.suggestedFilename(), /^users-\d{8}\.csv$/);
    const text = readFileSync(await download.path(), "utf8");
    const [header, ...rows] = text.trim().split("\r\n");
    assert.equal(header, "email,name,id,role,isActive,emailVerified,createdAt,updatedAt");
    assert.deepEqual(rows.map((row) => row.split(",")[0]), ["mover-2@example.com", "mover-1@example.com"]);
    assert.doesNotMatch(text, /password|\$2b\$/i);
  });

  step("import items from a CSV file: every bad row is listed, then the file goes in", async () => {
    await page.goto(`${base}/admin/item/list`);
    await page.click("#import-csv");
    await shot(page, "items-import");
    const bad = "title,description\r\nFirst,ok\r\n,no title\r\nThird,ok\r\n";
    await page.setInputFiles("#csv-file", { name: "items.csv", mimeType: "text/csv", buffer: Buffer.from(bad) });
    await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Import')")]);
    const cells = await page.locator("#csv-problems tbody td").allTextContents();
    assert.deepEqual(cells.slice(0, 2), ["3", "title"]);
    await shot(page, "items-import-refused");
    // The page answers 400; Chromium reports a document's 4xx status on the console.
    const status = "Failed to load resource: the server responded with a status of 400";
    assert.deepEqual(problems.splice(0), [`console error: ${status} (Bad Request)`]);
    const good = "\ufefftitle,description\r\nImported one,first\r\n=2+3,a formula\r\n";
    await page.setInputFiles("#csv-file", { name: "items.csv", mimeType: "text/csv", buffer: Buffer.from(good) });
    await Promise.all([page.waitForURL(/\/admin\/item\/list/), page.click("button:has-text('Import')")]);
    assert.deepEqual(await noticesOn(page), ["2 items imported."]);
    await page.waitForSelector("td:has-text('Imported one')");
  });

  step("every screen fits a phone's 390 px", async () => {
    const owner = await account(base, "phone@example.com");
    const title = "A rather long title, of the kind that used to squeeze the list";
    const item = await api(base, "POST", "/items", { token: owner.token, body: { title } });
    assert.equal(item.status, 201);
    const [session] = (await api(base, "GET", "/auth/sessions", { token: owner.token })).body;
    await page.goto(`${base}/admin/audit-event/list`);
    const event = await page.getAttribute("a[href*='/admin/audit-event/details/']", "href");
    await page.setViewportSize(PHONE);
    const screens = [
      ["home", "/admin/"],
      ["users", "/admin/user/list"],
      ["user-details", `/admin/user/details/${owner.id}`],
      ["user-create", "/admin/user/create"],
      ["user-edit", `/admin/user/edit/${owner.id}`],
      ["items", "/admin/item/list"],
      ["items-import", "/admin/item/import-csv"],
      ["item-details", `/admin/item/details/${item.body.id}`],
      ["item-create", "/admin/item/create"],
      ["item-edit", `/admin/item/edit/${item.body.id}`],
      ["sessions", "/admin/session/list"],
      ["session-details", `/admin/session/details/${session.id}`],
      ["audit-log", "/admin/audit-event/list"],
      ["audit-event", new URL(event, base).pathname],
    ];
    try {
      for (const [name, path] of screens) {
        await page.goto(`${base}${path}`);
        await shot(page, `phone-${name}`);
        await assertFitsAPhone(page, name);
      }
      // The filters come first, folded: the list is not pushed below them.
      await page.goto(`${base}/admin/user/list`);
      assert.equal(await page.getAttribute("details.list-filters", "open"), null);
      await page.click("details.list-filters summary");
      await shot(page, "phone-users-filters");
      await assertFitsAPhone(page, "users with filters open");
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  });

  step("set up two-factor sign-in from the QR code, then sign in with a code", async () => {
    await page.click("a.nav-link:has-text('Two-factor sign-in')");
    assert.match(await page.textContent("#two-factor-status"), /off/);
    await page.fill("#start-password", PASSWORD);
    await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Set up')")]);
    await page.waitForSelector("img.qr-code");
    // The QR code is drawn (a data: SVG the CSP allows) and has its size.
    const drawn = await page.$eval("img.qr-code", (image) => image.complete && image.naturalWidth > 0);
    assert.ok(drawn, "the QR code is not drawn");
    const secret = (await page.textContent("#two-factor-secret")).trim();
    await shot(page, "two-factor-qr");
    await page.setViewportSize(PHONE);
    try {
      await shot(page, "phone-two-factor-qr");
      await assertFitsAPhone(page, "two-factor");
    } finally {
      await page.setViewportSize(DESKTOP);
    }
    await page.fill("#confirm-code", totp(secret));
    await Promise.all([page.waitForLoadState("load"), page.click("button:has-text('Turn on')")]);
    assert.equal(await page.locator(".recovery-codes li").count(), 10);
    await shot(page, "two-factor-recovery-codes");
    await Promise.all([page.waitForURL(/\/admin\/login/), page.click("a[href$='/admin/logout']")]);
    await signIn(page, base, ADMIN);
    await page.waitForSelector("#code");
    assert.match(await page.textContent("#two-factor-step"), /6-digit code/);
    await shot(page, "login-code");
    // The code of the step the enrolment used works once: the next step's code.
    await page.fill("#code", totp(secret, Date.now() + 30_000));
    await Promise.all([page.waitForURL(/\/admin\/$/), page.click("button:has-text('Verify')")]);
    await page.goto(`${base}/admin/two-factor`);
    assert.match(await page.textContent("#two-factor-status"), /on.*10 recovery codes left/s);
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
  let context = null;
  let failures = 0;
  try {
    const people = {
      user: await account(server.url, "user@example.com"),
      target: await account(server.url, "target@example.com"),
      holder: await account(server.url, "holder@example.com"),
      forgetful: await account(server.url, "forgetful@example.com"),
    };
    context = await launchChromium({ viewport: DESKTOP });
    // Anything not served by the test server is refused (and reported by `watch`).
    const local = new URL(server.url).host;
    await context.route(
      (url) => !["data:", "blob:"].includes(url.protocol) && url.host !== local,
      (route) => route.abort(),
    );
    const page = context.pages()[0] ?? (await context.newPage());
    const problems = watch(context, page, server.url);
    defineSteps(page, server, people, problems);
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
    await server.stop();
  }
  const ran = steps.length;
  console.log(`\n${ran - failures}/${ran} steps passed; screenshots in ${SHOTS}`);
  if (ran === 0 || ran !== EXPECTED_STEPS || failures > 0) {
    if (ran !== EXPECTED_STEPS) console.log(`expected ${EXPECTED_STEPS} steps, ran ${ran}`);
    process.exitCode = 1;
  }
}

const EXPECTED_STEPS = 20;

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
