/**
 * `dataProvider(apiUrl)` and `authProvider(apiUrl)`, react-admin's usual provider
 * style: made for the same API they share one session, so signing in through one
 * signs the other in.
 */

import { HttpError } from "ra-core";
import { describe, expect, test } from "vitest";

import { sharedSession } from "../src/core/session";
import { authProvider, dataProvider } from "../src/react-admin";
import { api, CountingTransport, newSession } from "./support/api";

const adminFilter = { pagination: { page: 1, perPage: 5 }, filter: { q: api.adminEmail } };

/** A storage key of its own: sessions are shared per API and storage key. */
const freshKey = () => `sqlmodel-api.test.${crypto.randomUUID()}`;

describe("dataProvider(apiUrl) and authProvider(apiUrl)", () => {
  test("made for one API, in any of its URL forms, they share one session", async () => {
    const storageKey = freshKey();
    const transport = new CountingTransport();
    const auth = authProvider(`${api.baseUrl}/api/v1/`, { storageKey, storage: null, lock: null, fetch: transport.fetch });
    const data = dataProvider(api.baseUrl, { storageKey });

    await auth.login({ username: api.adminEmail, password: api.adminPassword });
    const { data: users } = await data.getList("users", adminFilter);
    expect(users.map((user) => user.email)).toEqual([api.adminEmail]);
    // The data provider sent its request through the auth provider's session, with
    // the token of that sign-in (the storage is memory: nothing else could sign it in).
    expect(transport.count("GET", "/api/v1/users", 200)).toBe(1);
    expect(transport.refreshes).toBe(0);
    expect(sharedSession({ baseUrl: api.baseUrl, storageKey }).hasSession()).toBe(true);

    await auth.logout({});
    const error = await data.getList("users", adminFilter).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(401);
  });

  test("another storage key is another session", async () => {
    const options = { storage: null, lock: null };
    const auth = authProvider(api.baseUrl, { ...options, storageKey: freshKey() });
    const data = dataProvider(api.baseUrl, { ...options, storageKey: freshKey() });

    await auth.login({ username: api.adminEmail, password: api.adminPassword });
    const error = await data.getList("users", adminFilter).catch((e: unknown) => e);
    expect((error as HttpError).status).toBe(401);
    await auth.logout({});
  });

  test("a given session is used as it is", async () => {
    const { session, transport } = newSession();
    const data = dataProvider(api.baseUrl, { session });

    await session.login(api.adminEmail, api.adminPassword);
    expect((await data.getList("users", adminFilter)).total).toBe(1);
    expect(transport.count("GET", "/api/v1/users", 200)).toBe(1);
    await session.logout();
  });
});
