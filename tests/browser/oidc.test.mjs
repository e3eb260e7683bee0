// Sign-in with an OpenID Connect provider end to end in Debian's headless Chromium: a
// real provider on loopback (oidc-provider-mock, `python -m tests.oidc_provider`), the
// service, and a small frontend on another local origin. The frontend's "Sign in with
// Test ID" link goes to the service's /authorize, the provider's page (a person signs
// in as a subject), the service's /callback and back to the frontend's landing page
// with ?code=, which the page exchanges for a sign-in, in bearer mode and in cookie
// mode, then reads /users/me. Refused: a tampered `state` (the landing page gets
// ?error= and nobody is signed in), the same landing code a second time, and an email
// the provider has not verified that belongs to an existing account.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { checker, freePort, launchChromium, startPython, startServer } from "./server.mjs";

const ADMIN = "admin@example.com";
const PASSWORD = "correct horse battery";
const LANDING = "/landing";

// The frontend: its home page lists the providers as links, and its landing page
// exchanges the code (cookie mode when the home page was opened with ?mode=cookie)
// and shows whom /users/me names, or why not, in #outcome.
const frontendPage = (api) => `<!doctype html><title>frontend</title>
<nav id="providers"></nav><p id="outcome">...</p>
<script>
const API = ${JSON.stringify(api)};
const show = (text) => (document.querySelector("#outcome").textContent = text);
async function home() {
  sessionStorage.setItem("mode", new URLSearchParams(location.search).get("mode") ?? "bearer");
  for (const provider of await (await fetch(API + "/api/v1/auth/providers")).json()) {
    const link = document.createElement("a");
    link.href = API + provider.authorizeUrl;
    link.textContent = "Sign in with " + provider.displayName;
    document.querySelector("#providers").append(link);
  }
  show("ready");
}
async function land() {
  const params = new URLSearchParams(location.search);
  history.replaceState(null, "", location.pathname);
  if (params.has("error")) return show("error " + params.get("error"));
  const cookie = sessionStorage.getItem("mode") === "cookie";
  const credentials = cookie ? "include" : "same-origin";
  const headers = { "content-type": "application/json" };
  if (cookie) headers["x-auth-mode"] = "cookie";
  const body = JSON.stringify({ code: params.get("code") });
  const exchange = await fetch(API + "/api/v1/auth/providers/exchange", { method: "POST", headers, body, credentials });
  const answer = await exchange.json();
  if (exchange.status !== 200) return show("refused " + exchange.status + " " + answer.code);
  const bearer = cookie ? {} : { authorization: "Bearer " + answer.accessToken };
  const me = await fetch(API + "/api/v1/users/me", { headers: bearer, credentials });
  show(me.status === 200 ? answer.tokenType + " " + (await me.json()).email : "me " + me.status);
}
(location.pathname === ${JSON.stringify(LANDING)} ? land() : home()).catch((error) => show("failed " + error));
</script>`;

async function serveFrontend(port, html) {
  const server = createServer((request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    response.end(html);
  });
  await new Promise((done) => server.listen(port, "127.0.0.1", done));
  return { close: () => new Promise((done) => server.close(done)) };
}

// Tell the provider the claims of person `subject`.
async function setPerson(issuer, subject, claims) {
  const answer = await fetch(`${issuer}/users/${encodeURIComponent(subject)}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(claims),
  });
  assert.equal(answer.status, 204, await answer.text());
}

// The provider, the frontend and the service, on loopback.
async function startAll() {
  const provider = await startPython(["-m", "tests.oidc_provider"], /^issuer (\S+)$/m);
  const issuer = provider.match[1];
  const [apiPort, frontPort] = [await freePort(), await freePort()];
  // One site (localhost), two origins: the cookies of cookie mode are first-party.
  const api = `http://localhost:${apiPort}`;
  const front = `http://localhost:${frontPort}`;
  const frontend = await serveFrontend(frontPort, frontendPage(api));
  const env = {
    OIDC_ISSUER_URL: issuer,
    OIDC_CLIENT_ID: "the-frontend",
    OIDC_CLIENT_SECRET: "the-frontend-secret",
    OIDC_NAME: "Test ID",
    PUBLIC_URL: api,
    FRONTEND_URL: front,
    OAUTH_LANDING_PATH: LANDING,
    CORS_ORIGINS: front,
  };
  const helpers = async () => {
    await frontend.close();
    provider.stop();
  };
  const server = await startServer({ adminEmail: ADMIN, adminPassword: PASSWORD, port: apiPort, env }).catch(
    async (error) => {
      await helpers();
      throw error;
    },
  );
  const stop = async () => {
    await server.stop();
    await helpers();
  };
  return { issuer, api, front, server, stop };
}

// The browser's side: one tab, what it lands with, and the sign-in through the provider.
async function openBrowser({ issuer, api, front }) {
  const context = await launchChromium();
  // Only loopback: the provider's page asks a CDN for its stylesheet, which is refused.
  const loopback = new Set(["localhost", "127.0.0.1"]);
  await context.route((url) => !loopback.has(url.hostname), (route) => route.abort());
  const page = context.pages()[0] ?? (await context.newPage());
  const tab = { context, page, problems: [], landings: [] };
  page.on("pageerror", (error) => tab.problems.push(error.message));
  page.on("request", (request) => {
    if (request.url().startsWith(`${front}${LANDING}?`)) tab.landings.push(request.url());
  });
  tab.outcome = async () => {
    await page.waitForFunction(() => document.querySelector("#outcome")?.textContent !== "...");
    return page.textContent("#outcome");
  };
  tab.accessCookie = async () =>
    (await context.cookies(`${api}/api/v1/users/me`)).find((cookie) => cookie.name === "access_token");
  tab.meWithCookies = () =>
    page.evaluate(async (url) => (await fetch(url, { credentials: "include" })).status, `${api}/api/v1/users/me`);
  // From the frontend's home page to the provider's page, signed in there as `subject`;
  // `beforeAuthorize` may arrange what happens to the provider's answer.
  tab.signIn = async (subject, mode, beforeAuthorize = async () => {}) => {
    await page.goto(`${front}/?mode=${mode}`);
    assert.equal(await tab.outcome(), "ready");
    await Promise.all([page.waitForURL(`${issuer}/**`), page.click("text=Sign in with Test ID")]);
    await page.fill("input[name=sub]", subject);
    await beforeAuthorize();
    await Promise.all([page.waitForURL(`${front}${LANDING}**`), page.click("button:has-text('Authorize')")]);
    return tab.outcome();
  };
  return tab;
}

async function signInTwice(check, { front }, tab, mode) {
  await check(`${mode} mode: the provider's person lands signed in, and /users/me names them`, async () => {
    await tab.context.clearCookies();
    tab.landings.length = 0;
    assert.equal(await tab.signIn("alice-at-id", mode), `${mode} alice@example.com`);
    assert.equal(tab.page.url(), `${front}${LANDING}`, "the code stays in the address bar");
    assert.match(tab.landings.at(-1), /\?code=[^&]+$/);
    assert.equal(Boolean(await tab.accessCookie()), mode === "cookie");
    assert.equal(await tab.meWithCookies(), mode === "cookie" ? 200 : 401);
    if (mode === "cookie") assert.equal((await tab.accessCookie()).httpOnly, true);
  });

  await check(`${mode} mode: the same landing code a second time is refused`, async () => {
    await tab.page.goto(tab.landings.at(-1));
    assert.equal(await tab.outcome(), "refused 400 OAUTH_CODE_INVALID");
  });
}

async function tamperedState({ issuer }, tab) {
  await tab.context.clearCookies();
  tab.landings.length = 0;
  // The provider's answer is fetched as the browser would, its state changed on the way.
  const authorization = `${issuer}/oauth2/authorize?**`;
  let tampered = 0;
  const tamper = () =>
    tab.page.route(authorization, async (route) => {
      const answer = await route.fetch({ maxRedirects: 0 });
      const location = new URL(answer.headers().location);
      assert.ok(location.searchParams.get("code"), location.href);
      location.searchParams.set("state", `${location.searchParams.get("state")}x`);
      tampered += 1;
      await route.fulfill({ status: 302, headers: { location: location.href } });
    });
  try {
    assert.equal(await tab.signIn("alice-at-id", "cookie", tamper), "error OAUTH_STATE_INVALID");
  } finally {
    await tab.page.unroute(authorization);
  }
  assert.equal(tampered, 1);
  assert.match(tab.landings.at(-1), /\?error=OAUTH_STATE_INVALID$/);
  assert.equal(await tab.accessCookie(), undefined);
  assert.equal(await tab.meWithCookies(), 401);
}

async function unverifiedEmail({ issuer, server }, tab) {
  await tab.context.clearCookies();
  await setPerson(issuer, "mallory-at-id", { email: ADMIN, email_verified: false });
  assert.equal(await tab.signIn("mallory-at-id", "cookie"), "refused 403 OAUTH_EMAIL_NOT_VERIFIED");
  assert.equal(await tab.meWithCookies(), 401);
  const login = await fetch(`${server.url}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: ADMIN, password: PASSWORD }),
  });
  const { accessToken } = await login.json();
  const linked = await fetch(`${server.url}/api/v1/users/me/identities`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  assert.deepEqual([linked.status, await linked.json()], [200, []], "the provider's person was linked");
}

async function main() {
  const stack = await startAll();
  const { check, failures } = checker();
  let tab;
  try {
    tab = await openBrowser(stack);
    await setPerson(stack.issuer, "alice-at-id", { email: "alice@example.com", email_verified: true, name: "Alice" });
    for (const mode of ["bearer", "cookie"]) await signInTwice(check, stack, tab, mode);
    await check("a tampered state on the callback lands with ?error= and signs nobody in", () =>
      tamperedState(stack, tab),
    );
    await check("an email the provider has not verified, of an existing account, is refused", () =>
      unverifiedEmail(stack, tab),
    );
    await check("no script error on the frontend's pages", async () => assert.deepEqual(tab.problems, []));
  } finally {
    await tab?.context.close();
    await stack.stop();
  }
  if (failures() > 0) {
    console.log(stack.server.log());
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
