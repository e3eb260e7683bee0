// Cookie mode end to end in Debian's headless Chromium: a frontend on another local
// origin (allowed in CORS_ORIGINS) signs in with `X-Auth-Mode: cookie` through
// fetch(credentials: "include"), reads /users/me, refreshes and signs out with the
// HttpOnly cookies alone, and no script reads a token (`document.cookie`). A form
// posted from a page of an origin that is not allowed is refused with 403
// CROSS_SITE_REQUEST (same site: the cookies went along), or finds no cookie at all
// (another site: SameSite=Lax), and the session lives on.
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { FLAGS, freePort, pageServer, startServer } from "./server.mjs";

const ADMIN = "admin@example.com";
const PASSWORD = "correct horse battery";

// In the frontend's page: one call to the API with the cookies.
async function call([url, method, mode, body]) {
  const headers = {};
  if (mode) headers["x-auth-mode"] = mode;
  if (body) headers["content-type"] = "application/json";
  const answer = await fetch(url, {
    method,
    headers,
    credentials: "include",
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await answer.text();
  return { status: answer.status, body: text ? JSON.parse(text) : null };
}

const forgeryPage = (action) =>
  `<!doctype html><title>elsewhere</title><form method="post" action="${action}">` +
  `<button type="submit">Win a prize</button></form>`;

async function main() {
  const apiPort = await freePort();
  const frontend = await pageServer("<!doctype html><title>frontend</title><p>frontend</p>");
  const api = `http://localhost:${apiPort}`;
  const front = `http://localhost:${frontend.port}`;
  const server = await startServer({
    adminEmail: ADMIN,
    adminPassword: PASSWORD,
    port: apiPort,
    env: { CORS_ORIGINS: front },
  });
  const forgery = await pageServer(forgeryPage(`${api}/api/v1/auth/logout-all`));
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: FLAGS });
  let failures = 0;
  const check = async (name, run) => {
    try {
      await run();
      console.log(`ok - ${name}`);
    } catch (error) {
      failures += 1;
      console.log(`not ok - ${name}\n  ${String(error.stack ?? error).replaceAll("\n", "\n  ")}`);
    }
  };
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${front}/`);
    const apiCall = (path, method = "GET", mode = null, body = null) =>
      page.evaluate(call, [`${api}/api/v1${path}`, method, mode, body]);
    const cookies = async () =>
      Object.fromEntries((await context.cookies()).map((cookie) => [cookie.name, cookie]));
    let firstRefresh;

    await check("the frontend signs in with cookie mode and reads /users/me", async () => {
      const login = await apiCall("/auth/login", "POST", "cookie", { email: ADMIN, password: PASSWORD });
      assert.equal(login.status, 200, JSON.stringify(login.body));
      assert.equal(login.body.tokenType, "cookie");
      assert.ok(!JSON.stringify(login.body).includes("eyJ"), "a token in the body");
      const me = await apiCall("/users/me");
      assert.deepEqual([me.status, me.body.email], [200, ADMIN]);
      const jar = await cookies();
      assert.deepEqual(Object.keys(jar).sort(), ["access_token", "refresh_token"]);
      assert.equal(jar.access_token.path, "/api/v1");
      assert.equal(jar.refresh_token.path, "/api/v1/auth/refresh");
      for (const cookie of Object.values(jar)) {
        assert.equal(cookie.httpOnly, true);
        assert.equal(cookie.sameSite, "Lax");
      }
      firstRefresh = jar.refresh_token.value;
    });

    await check("no script reads a token: document.cookie on the frontend and on the API's pages", async () => {
      assert.ok(!(await page.evaluate(() => document.cookie)).includes("eyJ"));
      const docs = await context.newPage();
      await docs.goto(`${api}/api/v1/docs`); // under the access cookie's path
      assert.equal(await docs.evaluate(() => document.cookie), "");
      await docs.close();
    });

    await check("a refresh with the refresh cookie rotates it and keeps the frontend signed in", async () => {
      const refreshed = await apiCall("/auth/refresh", "POST", "cookie");
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.equal(refreshed.body.tokenType, "cookie");
      assert.notEqual((await cookies()).refresh_token.value, firstRefresh);
      assert.equal((await apiCall("/users/me")).status, 200);
    });

    await check("a form posted from a same-site page of another origin is refused with 403", async () => {
      const elsewhere = await context.newPage();
      await elsewhere.goto(`http://localhost:${forgery.port}/`);
      const [answer] = await Promise.all([elsewhere.waitForNavigation(), elsewhere.click("button")]);
      assert.equal(answer.status(), 403);
      assert.equal((await answer.json()).code, "CROSS_SITE_REQUEST");
      await elsewhere.close();
      assert.equal((await apiCall("/users/me")).status, 200, "the forged sign-out happened");
    });

    await check("from another site the form carries no cookie at all (SameSite=Lax)", async () => {
      const elsewhere = await context.newPage();
      await elsewhere.goto(`http://127.0.0.1:${forgery.port}/`);
      const [answer] = await Promise.all([elsewhere.waitForNavigation(), elsewhere.click("button")]);
      assert.equal(answer.status(), 401);
      await elsewhere.close();
      assert.equal((await apiCall("/users/me")).status, 200);
    });

    await check("sign-out clears the cookies and ends the session", async () => {
      const access = (await cookies()).access_token.value;
      const logout = await apiCall("/auth/logout", "POST", "cookie");
      assert.equal(logout.status, 204);
      assert.deepEqual(Object.keys(await cookies()), []);
      assert.equal((await apiCall("/users/me")).status, 401);
      const replayed = await fetch(`${server.url}/api/v1/users/me`, { headers: { authorization: `Bearer ${access}` } });
      assert.equal(replayed.status, 401, "the session was not revoked");
    });
    await context.close();
  } finally {
    await browser.close();
    await forgery.close();
    await frontend.close();
    await server.stop();
  }
  if (failures > 0) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
