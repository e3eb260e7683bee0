/**
 * @vitest-environment node
 *
 * Cookie mode (`mode: "cookie"`) from a happy-dom page at http://localhost:5173, which
 * keeps cookies and enforces CORS like a browser: the API sets the tokens as HttpOnly
 * cookies, so no script reads them; sign-in, a list, a refresh (on a 401 too), the
 * typed client and sign-out work with the cookies alone, through the session and
 * both frameworks' auth providers.
 */

import { Window } from "happy-dom";
import { afterEach, describe, expect, test } from "vitest";

import { createApiClient } from "../src/core/client";
import { ApiSession } from "../src/core/session";
import { usersMeRead } from "../src/generated";
import { createReactAdminProviders } from "../src/react-admin";
import { createRefineProviders } from "../src/refine";
import { api } from "./support/api";

const JWT = /eyJ[\w-]+\.eyJ/;
const pages: Window[] = [];

interface Sent {
  path: string;
  status: number;
  authorization: string | null;
  mode: string | null;
}

/** A page of the dev frontend's origin, and a cookie-mode session whose requests are recorded. */
function cookiePage() {
  const page = new Window({ url: "http://localhost:5173/" }); // same-origin policy on
  pages.push(page);
  const sent: Sent[] = [];
  const pageFetch = page.fetch.bind(page) as unknown as typeof fetch;
  let fail401 = (_path: string) => false;
  const transport: typeof fetch = async (input, init) => {
    const request = typeof input === "object" && "clone" in input ? (input as Request) : null;
    const path = new URL(request?.url ?? String(input)).pathname;
    const headers = new Headers(request?.headers ?? init?.headers);
    const authorization = headers.get("Authorization");
    const mode = headers.get("X-Auth-Mode");
    if (fail401(path)) {
      sent.push({ path, status: 401, authorization, mode });
      return new Response(JSON.stringify({ detail: "Not authenticated", code: "NOT_AUTHENTICATED" }), { status: 401 });
    }
    // The typed client builds Node's `Request`; the page's fetch takes its own kind.
    const response = request
      ? await pageFetch(request.url, {
          method: request.method,
          headers: request.headers,
          body: ["GET", "HEAD"].includes(request.method) ? null : await request.text(),
          credentials: init?.credentials ?? request.credentials,
        })
      : await pageFetch(input, init);
    sent.push({ path, status: response.status, authorization, mode });
    return response;
  };
  const session = new ApiSession({
    baseUrl: api.baseUrl,
    mode: "cookie",
    storage: page.localStorage,
    fetch: transport,
    lock: null,
  });
  return {
    page,
    session,
    sent,
    failOnce(path: string) {
      let failed = false;
      fail401 = (requested) => !failed && requested.endsWith(path) && (failed = true);
    },
    /** Every token-shaped thing a script on the page can read. */
    readable(): string[] {
      const stored = Array.from({ length: page.localStorage.length }, (_, i) => page.localStorage.getItem(page.localStorage.key(i)!) ?? "");
      return [page.document.cookie, ...stored].filter((text) => JWT.test(text));
    },
  };
}

afterEach(async () => {
  await Promise.all(pages.splice(0).map((page) => page.happyDOM.close()));
});

describe("cookie mode", () => {
  test("sign in, list, refresh, sign out: no token ever readable by the page", async () => {
    const { session, sent, readable } = cookiePage();
    const { dataProvider, authProvider } = createReactAdminProviders({ session });

    await authProvider.login({ username: api.adminEmail, password: api.adminPassword });
    expect(session.hasSession()).toBe(true);
    expect(session.refreshToken).toBeNull();
    expect(await session.getAccessToken()).toBeNull();
    expect(readable()).toEqual([]);
    expect(sent.at(-1)).toMatchObject({ path: "/api/v1/auth/login", status: 200, mode: "cookie" });

    const list = await dataProvider.getList("users", { pagination: { page: 1, perPage: 5 }, sort: { field: "id", order: "ASC" }, filter: {} });
    expect(list.total).toBeGreaterThan(0);
    expect((await session.getUser({ fresh: true })).email).toBe(api.adminEmail);

    expect(await session.refresh()).toBe(true);
    expect(sent.at(-1)).toMatchObject({ path: "/api/v1/auth/refresh", status: 200, mode: "cookie" });
    expect((await session.getUser({ fresh: true })).email).toBe(api.adminEmail);
    expect(readable()).toEqual([]);
    await authProvider.checkAuth({});

    await authProvider.logout({});
    expect(sent.at(-1)).toMatchObject({ path: "/api/v1/auth/logout", status: 204, mode: "cookie" });
    expect(session.hasSession()).toBe(false);
    await expect(authProvider.checkAuth({})).rejects.toThrow();
    // The cookies are gone: the same page's own request is no longer signed in.
    const me = await session.request({ path: "/users/me" }).catch((error: unknown) => error);
    expect(me).toMatchObject({ status: 401 });
    expect(sent.every((call) => call.authorization === null)).toBe(true);
  });

  test("a 401 is answered by a refresh with the refresh cookie and one retry", async () => {
    const { session, sent, failOnce } = cookiePage();
    await session.login(api.adminEmail, api.adminPassword);
    failOnce("/users/me");
    expect((await session.getUser({ fresh: true })).email).toBe(api.adminEmail);
    expect(sent.map((call) => `${call.path} ${call.status}`).slice(-3)).toEqual([
      "/api/v1/users/me 401",
      "/api/v1/auth/refresh 200",
      "/api/v1/users/me 200",
    ]);
  });

  test("a refused refresh ends the session", async () => {
    const { session, sent } = cookiePage();
    await session.login(api.adminEmail, api.adminPassword);
    const other = cookiePage(); // another browser of the same account signs every session out
    await other.session.login(api.adminEmail, api.adminPassword);
    await other.session.request({ method: "POST", path: "/auth/logout-all", headers: { "X-Auth-Mode": "cookie" } });
    expect(await session.refresh()).toBe(false);
    expect(sent.at(-1)).toMatchObject({ path: "/api/v1/auth/refresh", status: 401 });
    expect(session.hasSession()).toBe(false);
  });

  test("the typed client and Refine's providers use the cookies", async () => {
    const { session, sent, readable } = cookiePage();
    const refine = createRefineProviders({ session });
    const done = await refine.authProvider.login({ email: api.adminEmail, password: api.adminPassword });
    expect(done.success).toBe(true);
    expect(await refine.authProvider.check({})).toEqual({ authenticated: true });
    const { data } = await usersMeRead({ client: createApiClient(session), throwOnError: true });
    expect(data.email).toBe(api.adminEmail);
    expect(readable()).toEqual([]);
    await refine.authProvider.logout({});
    expect(session.hasSession()).toBe(false);
    expect(sent.every((call) => call.authorization === null)).toBe(true);
  });
});
