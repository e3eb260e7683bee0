// Two tabs of one browser, sharing localStorage, refresh with the same refresh token
// at the same instant: both stay signed in (the API's refresh grace window). A replay
// of a spent token after the window still signs the session out.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { FLAGS, startServer } from "./server.mjs";

const ADMIN = "admin@example.com";
const PASSWORD = "correct horse battery";
const ROUNDS = 10;

// In a tab: wait for the shared instant, refresh with the stored token, keep the new
// pair, then call the API with the new access token.
async function refreshAt(instant) {
  const refreshToken = localStorage.getItem("refreshToken");
  if (Date.now() >= instant && instant > 0) return { late: true };
  while (Date.now() < instant) await new Promise((done) => setTimeout(done, 1));
  const answer = await fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refreshToken }),
  });
  if (answer.status !== 200) return { refresh: answer.status };
  const pair = await answer.json();
  localStorage.setItem("refreshToken", pair.refreshToken);
  const me = await fetch("/api/v1/users/me", {
    headers: { authorization: `Bearer ${pair.accessToken}` },
  });
  return { refresh: answer.status, me: me.status, spent: refreshToken, token: pair.refreshToken };
}

async function main() {
  const server = await startServer({ adminEmail: ADMIN, adminPassword: PASSWORD });
  const profile = mkdtempSync(join(tmpdir(), "tabs-test-profile-"));
  let context;
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
    context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: FLAGS,
    });
    const local = new URL(server.url).host;
    await context.route(
      (url) => !["data:", "blob:"].includes(url.protocol) && url.host !== local,
      (route) => route.abort(),
    );
    const tabA = context.pages()[0] ?? (await context.newPage());
    const tabB = await context.newPage();
    await tabA.goto(`${server.url}/health`);
    await tabB.goto(`${server.url}/health`);
    await tabA.evaluate(async ([email, password]) => {
      const answer = await fetch("/api/v1/auth/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password }),
      });
      localStorage.setItem("refreshToken", (await answer.json()).refreshToken);
    }, [ADMIN, PASSWORD]);
    let spent;

    await check(`two tabs refresh with one token at the same instant, ${ROUNDS} times`, async () => {
      let round = 0;
      for (let attempt = 0; round < ROUNDS; attempt += 1) {
        assert.ok(attempt < 3 * ROUNDS, "the tabs never started together: the machine is too busy");
        const instant = Date.now() + 1000;
        const [a, b] = await Promise.all([tabA.evaluate(refreshAt, instant), tabB.evaluate(refreshAt, instant)]);
        if (a.late || b.late) continue; // a tab got the task after the instant: not a race
        round += 1;
        assert.deepEqual([a.refresh, a.me, b.refresh, b.me], [200, 200, 200, 200], `round ${round}`);
        assert.equal(a.spent, b.spent, "both tabs read the same stored token");
        assert.equal(a.token, b.token, "both tabs hold the same new token");
        spent = a.spent;
      }
    });

    await check("a spent token replayed after the window signs the session out", async () => {
      await new Promise((done) => setTimeout(done, 11_000)); // the window: 10 s by default
      const replay = await tabA.evaluate(async (token) => {
        const answer = await fetch("/api/v1/auth/refresh", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ refreshToken: token }),
        });
        return answer.status;
      }, spent);
      assert.equal(replay, 401);
      const after = await tabB.evaluate(refreshAt, 0);
      assert.equal(after.refresh, 401, "the session's live token was revoked with it");
    });
  } finally {
    await context?.close();
    rmSync(profile, { recursive: true, force: true });
    await server.stop();
  }
  if (failures > 0) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
