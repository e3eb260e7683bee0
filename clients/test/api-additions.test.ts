/**
 * What the clients expect from four API additions (see clients/README.md):
 *
 * 1. every error body carries a machine-readable `code`;
 * 2. `GET /users` and `GET /items` take a repeated `id` filter (getMany);
 * 3. in development, CORS allows the usual local frontend origins and exposes
 *    `X-Total-Count` and `X-Request-ID` (cors.test.ts: it needs Node's own fetch);
 * 4. the OpenAPI document has camelCase path parameters, a relative `servers`
 *    entry, summaries, and `X-Total-Count` declared on list responses.
 *
 * They guard those additions against regressions.
 */

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { renderHook } from "@testing-library/react";
import { useDataProvider as useRaDataProvider } from "ra-core";
import { useDataProvider as useRefineDataProvider } from "@refinedev/core";
import { describe, expect, test } from "vitest";

import { ApiError } from "../src/core/errors";
import { type ApiHttpError, createReactAdminProviders } from "../src/react-admin";
import { type ApiRefineError, createRefineProviders } from "../src/refine";
import { api, createAccount, newSession, signedInAdmin } from "./support/api";
import { reactAdminWrapper, refineWrapper } from "./support/render";

const run = promisify(execFile);
// (a string, not `new URL(...)`: happy-dom replaces the global URL class)
const clientsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");

async function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

describe("1. error codes reach both frameworks", () => {
  test("LOGIN_BAD_CREDENTIALS on a failed sign-in", async () => {
    const { session } = newSession();
    const error = (await caught(session.login(api.adminEmail, "wrong password"))) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 401, code: "LOGIN_BAD_CREDENTIALS" });

    const ra = (await caught(createReactAdminProviders({ session }).authProvider.login({ username: api.adminEmail, password: "x" }))) as ApiHttpError;
    expect(ra).toMatchObject({ status: 401, code: "LOGIN_BAD_CREDENTIALS" });
    const refine = await createRefineProviders({ session }).authProvider.login({ email: api.adminEmail, password: "x" });
    expect(refine.error).toMatchObject({ statusCode: 401, code: "LOGIN_BAD_CREDENTIALS" });
  });

  test("EMAIL_ALREADY_REGISTERED, USER_NOT_FOUND, LAST_ADMIN and VALIDATION_ERROR", async () => {
    const admin = await signedInAdmin();
    const { dataProvider: ra } = createReactAdminProviders({ session: admin.session });
    const { dataProvider: refine } = createRefineProviders({ session: admin.session });

    const taken = (await caught(ra.create("users", { data: { email: api.adminEmail, password: "long enough password" } }))) as ApiHttpError;
    expect(taken).toMatchObject({ status: 409, code: "EMAIL_ALREADY_REGISTERED" });

    const missing = (await caught(refine.getOne({ resource: "users", id: "00000000-0000-4000-8000-000000000000" }))) as ApiRefineError;
    expect(missing).toMatchObject({ statusCode: 404, code: "USER_NOT_FOUND" });

    const me = await admin.session.getUser();
    const lastAdmin = (await caught(ra.delete("users", { id: me.id }))) as ApiHttpError;
    expect(lastAdmin).toMatchObject({ status: 409, code: "LAST_ADMIN" });

    const invalid = (await caught(refine.create({ resource: "users", variables: { email: "nope", password: "x" } }))) as ApiRefineError;
    expect(invalid).toMatchObject({ statusCode: 422, code: "VALIDATION_ERROR" });
    expect(invalid.message).toMatch(/^email: .+; password: /); // the list stays readable
  });
});

describe("2. getMany through the repeated `id` filter", () => {
  async function threeUsers() {
    const admin = await signedInAdmin();
    const users = [];
    for (let i = 0; i < 3; i++) users.push((await createAccount(admin.session)).user);
    return { admin, users };
  }

  test("react-admin getMany: one list request with id=…&id=…, just those rows", async () => {
    const { admin, users } = await threeUsers();
    const providers = createReactAdminProviders({ session: admin.session });
    const dataProvider = renderHook(() => useRaDataProvider(), { wrapper: reactAdminWrapper(providers) }).result.current;
    const wanted = [users[2]!.id, users[0]!.id];
    admin.transport.reset();
    const { data } = await dataProvider.getMany("users", { ids: wanted });
    expect(data.map((user) => user.id)).toEqual(wanted);
    const requests = admin.transport.calls.filter((call) => call.url.pathname.startsWith("/api/v1/users"));
    expect(requests.map((call) => `${call.method} ${call.url.pathname}`)).toEqual(["GET /api/v1/users"]);
    expect(requests[0]!.url.searchParams.getAll("id")).toEqual(wanted);
  });

  test("Refine getMany and an `in` filter on id: the API returns just those rows", async () => {
    const { admin, users } = await threeUsers();
    const providers = createRefineProviders({ session: admin.session });
    const dataProvider = renderHook(() => useRefineDataProvider()(), { wrapper: refineWrapper(providers) }).result.current;
    const wanted = [users[0]!.id, users[1]!.id];
    admin.transport.reset();
    const many = await dataProvider.getMany!({ resource: "users", ids: wanted });
    expect(many.data.map((user) => user.id)).toEqual(wanted);
    expect(admin.transport.calls.map((call) => `${call.method} ${call.url.pathname}`)).toEqual(["GET /api/v1/users"]);

    const list = await dataProvider.getList({ resource: "users", filters: [{ field: "id", operator: "in", value: wanted }] });
    expect(list.total).toBe(2);
    expect(list.data.map((user) => user.id).sort()).toEqual([...wanted].sort());
  });

  test("items too, and an id the caller may not see is simply left out", async () => {
    const admin = await signedInAdmin();
    const owner = await createAccount(admin.session);
    const ownerSession = newSession();
    await ownerSession.session.login(owner.email, owner.password);
    const mine = (await ownerSession.session.request<{ id: string }>({ method: "POST", path: "/items", body: { title: "mine" } })).data;
    await ownerSession.session.request({ method: "POST", path: "/items", body: { title: "also mine" } });
    const theirs = (await admin.session.request<{ id: string }>({ method: "POST", path: "/items", body: { title: "admin's" } })).data;
    const { dataProvider } = createReactAdminProviders({ session: ownerSession.session });
    ownerSession.transport.reset();
    const { data } = await dataProvider.getMany("items", { ids: [mine.id, theirs.id] });
    expect(data.map((item) => item.title)).toEqual(["mine"]);
    expect(ownerSession.transport.calls.map((call) => `${call.method} ${call.url.pathname}`)).toEqual(["GET /api/v1/items"]);
  });
});

describe("4. the OpenAPI document", () => {
  async function served(): Promise<Record<string, any>> {
    return (await fetch(`${api.baseUrl}/api/v1/openapi.json`)).json() as Promise<Record<string, any>>;
  }

  test("camelCase path parameters, a relative server, summaries, X-Total-Count on lists", async () => {
    const document = await served();
    const paths = Object.keys(document.paths);
    expect(paths).toEqual(
      expect.arrayContaining(["/api/v1/users/{userId}", "/api/v1/items/{itemId}", "/api/v1/auth/sessions/{sessionId}"]),
    );
    expect(paths.filter((path) => /\{[a-z]+_[a-z_]+\}/.test(path))).toEqual([]);

    expect(document.servers?.length).toBeGreaterThan(0);
    const server: string = document.servers[0].url;
    expect(server).not.toMatch(/^[a-z]+:\/\//i);
    // The server entry and the paths together still name the real routes.
    const me = Object.entries(document.paths as Record<string, Record<string, any>>).find(
      ([, operations]) => operations.get?.operationId === "users-me-read",
    );
    expect(`${server.replace(/\/+$/, "")}${me?.[0]}`).toBe("/api/v1/users/me");

    for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        expect(operation.summary, `${method.toUpperCase()} ${path} has a summary`).toBeTruthy();
      }
    }
    for (const path of ["/api/v1/users", "/api/v1/items"]) {
      const headers = document.paths[path].get.responses["200"].headers ?? {};
      expect(Object.keys(headers).map((name) => name.toLowerCase()), `${path} declares X-Total-Count`).toContain(
        "x-total-count",
      );
    }
  });

  test("the client generated from it type-checks (tsc --strict)", async () => {
    const folder = mkdtempSync(join(tmpdir(), "sqlmodel-api-openapi-"));
    try {
      writeFileSync(join(folder, "openapi.json"), JSON.stringify(await served()));
      const bin = (name: string) => join(clientsDir, "node_modules", ".bin", name);
      await run(bin("openapi-ts"), ["-i", join(folder, "openapi.json"), "-o", join(folder, "client"), "-c", "@hey-api/client-fetch", "--no-log-file", "-s"], {
        cwd: clientsDir,
      });
      await run(
        bin("tsc"),
        ["--noEmit", "--strict", "--skipLibCheck", "--target", "ES2022", "--module", "ESNext", "--moduleResolution", "Bundler", "--lib", "ES2023,DOM,DOM.Iterable", join(folder, "client", "index.ts")],
        { cwd: clientsDir },
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
