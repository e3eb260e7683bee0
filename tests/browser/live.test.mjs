// Live updates end to end in Debian's headless Chromium: a frontend page signed in in
// cookie mode listens with `new EventSource(.../live, {withCredentials: true})`; an
// admin in a second browser context edits the page owner's item in the back office,
// and the first page shows the new title without a reload. A third context, another
// user's, hears nothing of it.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { FLAGS, freePort, pageServer, startServer } from "./server.mjs";

const ADMIN = "admin@example.com";
const PASSWORD = "correct horse battery";

// The frontend: lists the signed-in user's items and keeps the list live.
const frontendPage = (api) => `<!doctype html><title>live items</title>
<p id="state">signed out</p><ul id="items"></ul>
<script>
const api = ${JSON.stringify(api)};
window.changes = [];
function show(item) {
  let row = document.getElementById("item-" + item.id);
  if (!row) {
    row = document.createElement("li");
    row.id = "item-" + item.id;
    document.getElementById("items").append(row);
  }
  row.textContent = item.title;
}
window.signIn = async (email, password) => {
  const login = await fetch(api + "/auth/login", {
    method: "POST", credentials: "include",
    headers: { "content-type": "application/json", "x-auth-mode": "cookie" },
    body: JSON.stringify({ email, password }),
  });
  if (login.status !== 200) throw new Error("sign-in answered " + login.status);
  const page = await (await fetch(api + "/items", { credentials: "include" })).json();
  page.items.forEach(show);
  const source = new EventSource(api + "/live", { withCredentials: true });
  source.onopen = () => (document.getElementById("state").textContent = "live");
  source.addEventListener("items", (event) => {
    const change = JSON.parse(event.data);
    window.changes.push(change);
    if (change.type === "deleted") document.getElementById("item-" + change.id)?.remove();
    else show(change.record);
  });
};
</script>`;

async function api(base, method, path, { body, token } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${base}/api/v1${path}`, { method, headers, body: body && JSON.stringify(body) });
  return { status: response.status, body: await response.json().catch(() => null) };
}

async function account(base, email) {
  assert.equal((await api(base, "POST", "/auth/register", { body: { email, password: PASSWORD } })).status, 201);
  const signedIn = await api(base, "POST", "/auth/login", { body: { email, password: PASSWORD } });
  return { email, token: signedIn.body.accessToken };
}

async function livePage(browser, front, email) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${front}/`);
  await page.evaluate(([who, password]) => window.signIn(who, password), [email, PASSWORD]);
  await page.waitForFunction(() => document.getElementById("state").textContent === "live");
  return { context, page };
}

async function main() {
  const apiPort = await freePort();
  const apiBase = `http://localhost:${apiPort}`;
  const frontend = await pageServer(frontendPage(`${apiBase}/api/v1`));
  const front = `http://localhost:${frontend.port}`;
  const server = await startServer({
    adminEmail: ADMIN,
    adminPassword: PASSWORD,
    port: apiPort,
    env: { CORS_ORIGINS: front, LIVE_POLL_SECONDS: "0.2", LIVE_HEARTBEAT_SECONDS: "2" },
  });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: FLAGS });
  try {
    const owner = await account(apiBase, "owner@example.com");
    const outsider = await account(apiBase, "outsider@example.com");
    const item = (await api(apiBase, "POST", "/items", { token: owner.token, body: { title: "Draft" } })).body;

    const first = await livePage(browser, front, owner.email);
    const stranger = await livePage(browser, front, outsider.email);
    assert.equal(await first.page.textContent(`#item-${item.id}`), "Draft");
    await first.page.evaluate(() => (window.notReloaded = true));

    // The second context: an admin edits the item in the back office.
    const second = await browser.newContext();
    const office = await second.newPage();
    await office.goto(`${apiBase}/admin/login`);
    await office.fill("#email", ADMIN);
    await office.fill("#password", PASSWORD);
    await Promise.all([office.waitForLoadState("load"), office.click("button[type=submit]")]);
    await office.goto(`${apiBase}/admin/item/edit/${item.id}`);
    await office.fill("input[name=title]", "Final, edited in the back office");
    await Promise.all([office.waitForURL(/\/admin\/item\/list/), office.click("input[value=Save]")]);

    await first.page.waitForFunction(
      (id) => document.getElementById(`item-${id}`)?.textContent === "Final, edited in the back office",
      item.id,
      { timeout: 60_000 },
    );
    assert.equal(await first.page.evaluate(() => window.notReloaded), true, "the page was reloaded");
    console.log("ok - the first page shows the back office's edit without a reload");

    // The stranger heard nothing of it: their first change is their own item's.
    const own = (await api(apiBase, "POST", "/items", { token: outsider.token, body: { title: "Mine" } })).body;
    await stranger.page.waitForFunction((id) => window.changes.length > 0 && window.changes.at(-1).id === id, own.id);
    assert.deepEqual(await stranger.page.evaluate(() => window.changes.map((change) => change.id)), [own.id]);
    assert.equal(await stranger.page.$(`#item-${item.id}`), null);
    console.log("ok - another user's page hears nothing of it");

    for (const context of [first.context, stranger.context, second]) await context.close();
  } finally {
    await browser.close();
    await frontend.close();
    await server.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
