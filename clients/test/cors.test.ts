/**
 * @vitest-environment node
 *
 * CORS for local frontends in development, seen with Node's own fetch (the default
 * happy-dom environment would set `Origin` itself) and from a happy-dom page that
 * enforces the same-origin policy like a browser.
 */

import { Window } from "happy-dom";
import { describe, expect, test } from "vitest";

import { ApiSession } from "../src/core/session";
import { createReactAdminProviders } from "../src/react-admin";
import { api, signedInAdmin } from "./support/api";

describe("3. CORS for local frontends in development", () => {
  const allowed = ["http://localhost:3000", "http://localhost:5173", "http://127.0.0.1:3000", "http://127.0.0.1:5173"];

  test.each(allowed)("%s may call the API and read X-Total-Count and X-Request-ID", async (origin) => {
    const preflight = await fetch(`${api.baseUrl}/api/v1/items`, {
      method: "OPTIONS",
      headers: {
        Origin: origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
      },
    });
    await preflight.arrayBuffer();
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get("Access-Control-Allow-Origin")).toBe(origin);

    const admin = await signedInAdmin();
    const token = await admin.session.getAccessToken();
    const list = await fetch(`${api.baseUrl}/api/v1/items?limit=1`, {
      headers: { Origin: origin, Authorization: `Bearer ${token}` },
    });
    await list.arrayBuffer();
    expect(list.headers.get("Access-Control-Allow-Origin")).toBe(origin);
    const exposed = (list.headers.get("Access-Control-Expose-Headers") ?? "").toLowerCase().split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(["x-total-count", "x-request-id"]));
  });

  test("another origin is not allowed", async () => {
    const response = await fetch(`${api.baseUrl}/api/v1/items`, {
      method: "OPTIONS",
      headers: { Origin: "http://localhost:8080", "Access-Control-Request-Method": "GET" },
    });
    await response.arrayBuffer();
    expect(response.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  test("the providers work from a page at http://localhost:5173 (a browser that enforces CORS)", async () => {
    const page = new Window({ url: "http://localhost:5173/" }); // same-origin policy on
    try {
      const session = new ApiSession({
        baseUrl: api.baseUrl,
        storage: page.localStorage,
        fetch: page.fetch.bind(page) as unknown as typeof fetch,
        lock: null,
      });
      const { dataProvider, authProvider } = createReactAdminProviders({ session });
      await authProvider.login({ username: api.adminEmail, password: api.adminPassword });
      const list = await dataProvider.getList("users", { pagination: { page: 1, perPage: 1 } });
      expect(list.total).toBeGreaterThan(0);
      await authProvider.logout({});
    } finally {
      await page.happyDOM.close();
    }
  });
});

