/** The shared session: sign-in, refresh rotation, single flight, sign-out, errors, generated client. */

import { describe, expect, test } from "vitest";

import { createApiClient } from "../src/core/client";
import { ApiError } from "../src/core/errors";
import { Resources } from "../src/core/resources";
import { ApiSession, toQueryString } from "../src/core/session";
import { itemsCreate, itemsList, usersMeRead } from "../src/generated";
import {
  api,
  currentAccessToken,
  expireAccessToken,
  memoryStorage,
  newSession,
  rawStatus,
  signedInAdmin,
  signedInAs,
} from "./support/api";

describe("sign-in", () => {
  test("keeps the access token in memory and the refresh token in the given storage", async () => {
    const { session, storage } = newSession();
    expect(session.hasSession()).toBe(false);
    const pair = await session.login(api.adminEmail, api.adminPassword);
    if (pair.tokenType !== "bearer") throw new Error(`a token pair expected, got ${pair.tokenType}`);
    expect(pair.expiresIn).toBeGreaterThan(0);
    expect([...storage.values.values()]).toEqual([pair.refreshToken]);
    expect([...storage.values.values()]).not.toContain(pair.accessToken);
    expect(await currentAccessToken(session)).toBe(pair.accessToken);
    expect((await session.getUser()).email).toBe(api.adminEmail);
  });

  test("wrong credentials reject with the API's message and status", async () => {
    const { session } = newSession();
    const error = await session.login(api.adminEmail, "not the password").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(401);
    expect((error as ApiError).message).toBe("Invalid email or password");
    expect(session.hasSession()).toBe(false);
  });

  test("a new tab (same storage, empty memory) gets an access token by refreshing", async () => {
    const { session, storage } = await signedInAdmin();
    const before = storage.values.get("sqlmodel-api.refresh-token");
    const { session: reloaded, transport } = newSession({ storage });
    expect(reloaded.hasSession()).toBe(true);
    expect((await reloaded.getUser()).email).toBe(api.adminEmail);
    expect(transport.refreshes).toBe(1);
    expect(storage.values.get("sqlmodel-api.refresh-token")).not.toBe(before);
    await session.logout();
  });
});

describe("refresh", () => {
  test("a 401 is answered by one refresh and the request is retried", async () => {
    const { session, transport } = await signedInAdmin();
    await expireAccessToken(session);
    const { data } = await session.request<{ email: string }>({ path: "/users/me" });
    expect(data.email).toBe(api.adminEmail);
    expect(transport.count("GET", "/users/me", 401)).toBe(1);
    expect(transport.count("GET", "/users/me", 200)).toBe(1);
    expect(transport.refreshes).toBe(1);
  });

  test("concurrent refresh() calls share one request", async () => {
    const { session, transport } = await signedInAdmin();
    const results = await Promise.all([session.refresh(), session.refresh(), session.refresh()]);
    expect(results).toEqual([true, true, true]);
    expect(transport.refreshes).toBe(1);
  });

  test("a spent refresh token ends the session and the next 401 is not retried", async () => {
    const { session, storage, transport } = await signedInAdmin();
    const stolen = session.refreshToken!;
    expect(await session.refresh()).toBe(true);
    // Someone presents the spent token: the API revokes the whole session.
    const reuse = await globalThis.fetch(`${api.baseUrl}/api/v1/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refreshToken: stolen }),
    });
    expect(reuse.status).toBe(401);
    transport.reset();
    const error = await session.request({ path: "/users/me" }).catch((e: unknown) => e);
    expect((error as ApiError).status).toBe(401);
    expect(transport.refreshes).toBe(1);
    expect(session.hasSession()).toBe(false);
    expect(storage.values.size).toBe(0);
  });

  test("two tabs sharing storage never spend the same refresh token (with a lock)", async () => {
    const { storage } = await signedInAdmin();
    // A lock like the Web Locks API gives a browser's tabs.
    let queue = Promise.resolve();
    const lock = <T>(_name: string, task: () => Promise<T>) => {
      const run = queue.then(task);
      queue = run.then(() => undefined, () => undefined);
      return run;
    };
    const tabA = newSession({ storage, lock });
    const tabB = newSession({ storage, lock });
    const [a, b] = await Promise.all([tabA.session.refresh(), tabB.session.refresh()]);
    expect([a, b]).toEqual([true, true]);
    expect(await rawStatus("/users/me", await currentAccessToken(tabA.session))).toBe(200);
    expect(await rawStatus("/users/me", await currentAccessToken(tabB.session))).toBe(200);
  });
});

describe("sign-out", () => {
  test("revokes the session on the server: its tokens stop working at once", async () => {
    const { session, storage } = await signedInAdmin();
    const access = await currentAccessToken(session);
    const refresh = session.refreshToken!;
    await session.logout();
    expect(session.hasSession()).toBe(false);
    expect(storage.values.size).toBe(0);
    expect(await rawStatus("/users/me", access)).toBe(401);
    const reuse = await globalThis.fetch(`${api.baseUrl}/api/v1/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refreshToken: refresh }),
    });
    expect(reuse.status).toBe(401);
  });

  test("with only a stored refresh token (after a reload), still revokes the session", async () => {
    const { session, storage } = await signedInAdmin();
    const access = await currentAccessToken(session);
    const reloaded = newSession({ storage });
    await reloaded.session.logout();
    expect(await rawStatus("/users/me", access)).toBe(401);
    expect(reloaded.transport.count("POST", "/auth/logout", 204)).toBe(1);
  });
});

describe("errors", () => {
  test("a 422 list becomes one readable message plus per-field messages", async () => {
    const { session } = await signedInAdmin();
    const error = (await session
      .request({ method: "POST", path: "/users", body: { email: "not-an-email", password: "short" } })
      .catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(422);
    expect(error.message).toMatch(/^email: .*; password: .*8 characters/);
    expect(error.message).not.toMatch(/Value error/);
    expect(Object.keys(error.fieldErrors).sort()).toEqual(["email", "password"]);
  });

  test("an unreachable API is an ApiError with status 0", async () => {
    const session = new ApiSession({ baseUrl: "http://127.0.0.1:9", storage: null, lock: null });
    const error = (await session.request({ path: "/users/me", auth: false }).catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(0);
  });

  test("query strings repeat array keys and drop empty values", () => {
    expect(toQueryString({ id: ["a", "b"], q: "", role: undefined, isActive: false, limit: 5 })).toBe(
      "?id=a&id=b&isActive=false&limit=5",
    );
  });
});

describe("shared resource operations", () => {
  test("a range longer than the API's 100-row pages is fetched page by page", async () => {
    const { session, transport } = await signedInAs((await signedInAdmin()).session);
    const resources = new Resources(session);
    for (let i = 0; i < 105; i += 15) {
      await Promise.all(
        Array.from({ length: 15 }, (_, j) => resources.create("items", { title: `bulk ${i + j}` })),
      );
    }
    transport.reset();
    const { rows, total } = await resources.list("items", { offset: 0, limit: 1000, sort: { field: "title", order: "ASC" } });
    expect(total).toBe(105);
    expect(rows).toHaveLength(105);
    expect(new Set(rows.map((row) => row.id)).size).toBe(105);
    expect(transport.count("GET", "/items")).toBe(2);
  });
});

describe("generated client", () => {
  test("uses the session's token and refreshes on 401 like the providers", async () => {
    const { session, transport } = await signedInAs((await signedInAdmin()).session);
    const client = createApiClient(session);
    const me = await usersMeRead({ client, throwOnError: true });
    expect(me.data.role).toBe("USER");

    await itemsCreate({ client, body: { title: "from the SDK" }, throwOnError: true });
    await expireAccessToken(session);
    transport.reset();
    const page = await itemsList({ client, query: { limit: 10, sort: "-createdAt" }, throwOnError: true });
    expect(page.data.items.map((item) => item.title)).toContain("from the SDK");
    expect(page.response.headers.get("X-Total-Count")).toBe(String(page.data.total));
    expect(transport.refreshes).toBe(1);
    expect(transport.count("GET", "/items", 401)).toBe(1);
  });

  test("operations without security send no token", async () => {
    const storage = memoryStorage();
    const { session, transport } = newSession({ storage });
    const client = createApiClient(session);
    const health = await globalThis.fetch(`${api.baseUrl}/health`);
    expect(health.status).toBe(200);
    const response = await usersMeRead({ client });
    expect(response.response.status).toBe(401);
    expect(transport.calls.every((call) => call.authorization === null)).toBe(true);
  });
});
