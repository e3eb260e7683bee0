/**
 * `baseUrl` names the server root or the API itself (`http://host:8000` or
 * `http://host:8000/api/v1`, with or without a trailing slash): every form reaches
 * the same routes, for the session and its typed client, react-admin and Refine.
 */

import { describe, expect, test } from "vitest";

import { createApiClient } from "../src/core/client";
import { ApiSession, resolveBaseUrl } from "../src/core/session";
import { usersMeRead } from "../src/generated";
import { createReactAdminProviders } from "../src/react-admin";
import { createRefineProviders } from "../src/refine";
import { api, CountingTransport } from "./support/api";

const root = api.baseUrl;
const FORMS = [root, `${root}/`, `${root}/api/v1`, `${root}/api/v1/`];

function sent(transport: CountingTransport): string[] {
  return transport.calls.map((call) => `${call.method} ${call.url.origin}${call.url.pathname} ${call.status}`);
}

describe.each(FORMS)("baseUrl %s", (baseUrl) => {
  const options = { baseUrl, storage: null, lock: null };

  test("the session and the typed client bound to it", async () => {
    const transport = new CountingTransport();
    const session = new ApiSession({ ...options, fetch: transport.fetch });
    expect([session.baseUrl, session.apiUrl]).toEqual([root, `${root}/api/v1`]);

    await session.login(api.adminEmail, api.adminPassword);
    const { data: me } = await usersMeRead({ client: createApiClient(session), throwOnError: true });
    expect(me.email).toBe(api.adminEmail);
    await session.logout();
    expect(sent(transport)).toEqual([
      `POST ${root}/api/v1/auth/login 200`,
      `GET ${root}/api/v1/users/me 200`,
      `POST ${root}/api/v1/auth/logout 204`,
    ]);
  });

  test("react-admin's providers", async () => {
    const transport = new CountingTransport();
    const { dataProvider, authProvider } = createReactAdminProviders({ ...options, fetch: transport.fetch });

    await authProvider.login({ username: api.adminEmail, password: api.adminPassword });
    const { data } = await dataProvider.getList("users", { pagination: { page: 1, perPage: 5 }, filter: { q: api.adminEmail } });
    expect(data.map((user) => user.email)).toEqual([api.adminEmail]);
    await authProvider.logout({});
    expect(sent(transport)).toEqual([
      `POST ${root}/api/v1/auth/login 200`,
      `GET ${root}/api/v1/users 200`,
      `POST ${root}/api/v1/auth/logout 204`,
    ]);
  });

  test("Refine's providers", async () => {
    const transport = new CountingTransport();
    const { dataProvider, authProvider } = createRefineProviders({ ...options, fetch: transport.fetch });
    expect(dataProvider.getApiUrl()).toBe(`${root}/api/v1`);

    expect(await authProvider.login({ email: api.adminEmail, password: api.adminPassword })).toMatchObject({ success: true });
    const { data } = await dataProvider.getList({
      resource: "users",
      pagination: { currentPage: 1, pageSize: 5 },
      filters: [{ field: "email", operator: "contains", value: api.adminEmail }],
    });
    expect(data.map((user) => user["email"])).toEqual([api.adminEmail]);
    await authProvider.logout({});
    expect(sent(transport)).toEqual([
      `POST ${root}/api/v1/auth/login 200`,
      `GET ${root}/api/v1/users 200`,
      `POST ${root}/api/v1/auth/logout 204`,
    ]);
  });
});

test("the same origin, a custom prefix, a path before the API", () => {
  for (const same of ["", "/", "/api/v1", "/api/v1/"]) {
    expect(resolveBaseUrl(same), same).toEqual({ baseUrl: "", apiUrl: "/api/v1" });
  }
  expect(resolveBaseUrl("https://example.com/v2/", "v2")).toEqual({
    baseUrl: "https://example.com",
    apiUrl: "https://example.com/v2",
  });
  expect(resolveBaseUrl("https://example.com/edge/", "/api/v1/")).toEqual({
    baseUrl: "https://example.com/edge",
    apiUrl: "https://example.com/edge/api/v1",
  });
  expect(resolveBaseUrl("https://example.com/api/v1", "")).toEqual({
    baseUrl: "https://example.com/api/v1",
    apiUrl: "https://example.com/api/v1",
  });
});
