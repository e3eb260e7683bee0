/**
 * The react-admin providers, driven through react-admin's own hooks (ra-core) against
 * the real API.
 *
 * react-admin checks data provider answers in `useDataProvider` (its
 * `validateResponseFormat`: `data` present, an array with `id`s for lists,
 * `total` for getList/getManyReference, `id` for single records), but only when
 * NODE_ENV is "development": so it is set here, and the first test proves that the
 * check really runs.
 */

process.env.NODE_ENV = "development";

import { act, renderHook, waitFor } from "@testing-library/react";
import {
  type DataProvider,
  HttpError,
  useCanAccess,
  useCreate,
  useDataProvider,
  useDelete,
  useDeleteMany,
  useGetIdentity,
  useGetList,
  useGetMany,
  useGetManyReference,
  useGetOne,
  useLogin,
  useLogout,
  useLogoutIfAccessDenied,
  usePermissions,
  useUpdate,
  useUpdateMany,
} from "ra-core";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";

import { type ApiHttpError, createReactAdminProviders } from "../src/react-admin";
import {
  api,
  currentAccessToken,
  expireAccessToken,
  newSession,
  rawStatus,
  signedInAdmin,
  signedInAs,
  uniqueEmail,
  until,
} from "./support/api";
import { reactAdminWrapper } from "./support/render";

// In development react-admin logs every data provider error (and each failed check)
// with console.error: record them, and keep the expected ones out of the output.
const logged: unknown[][] = [];
beforeEach(() => {
  logged.length = 0;
  const realError = console.error.bind(console);
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    logged.push(args);
    const expected =
      args[0] instanceof HttpError ||
      (args[0] instanceof Error && args[0].message === "ra.notification.data_provider_error") ||
      (typeof args[0] === "string" && args[0].startsWith("The response to"));
    if (!expected) realError(...args);
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Providers on a counted session, and the data provider as react-admin hands it out. */
function setup(made: ReturnType<typeof newSession> = newSession()) {
  const providers = createReactAdminProviders({ session: made.session });
  const wrapper = reactAdminWrapper(providers);
  const dataProvider = renderHook(() => useDataProvider(), { wrapper }).result.current;
  return { ...made, ...providers, wrapper, dataProvider };
}

async function rejection(promise: Promise<unknown>): Promise<ApiHttpError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HttpError);
  return error as ApiHttpError;
}

describe("react-admin checks the answers", () => {
  test("a malformed answer fails react-admin's own validation here (the check is on)", async () => {
    const { dataProvider: ours } = setup();
    const broken: DataProvider = { ...ours, getList: async () => ({ data: [{ id: 1 }] }) as never };
    const dataProvider = renderHook(() => useDataProvider(), { wrapper: reactAdminWrapper({ dataProvider: broken }) })
      .result.current;
    await expect(dataProvider.getList("items", {})).rejects.toThrow("ra.notification.data_provider_error");
    expect(logged.map((args) => String(args[0]))).toContainEqual(expect.stringMatching(/^The response to 'getList'.*'total'/));
  });
});

describe("dataProvider, every method through useDataProvider", () => {
  test("users (as an admin): create, getOne, getList, getMany, update, updateMany, delete, deleteMany", async () => {
    const admin = await signedInAdmin();
    const { dataProvider, transport } = setup(admin);
    const tag = uniqueEmail("ra").split("@")[0]!;

    const created = [];
    for (const name of ["Carol", "Alice", "Bob"]) {
      const { data } = await dataProvider.create("users", {
        data: { email: `${tag}-${name.toLowerCase()}@example.com`, password: "long enough password", name },
      });
      expect(data).toMatchObject({ name, role: "USER", isActive: true });
      created.push(data);
    }
    const [carol, alice, bob] = created as [(typeof created)[0], (typeof created)[0], (typeof created)[0]];

    const one = await dataProvider.getOne("users", { id: alice.id });
    expect(one.data.email).toBe(`${tag}-alice@example.com`);

    const page1 = await dataProvider.getList("users", {
      pagination: { page: 1, perPage: 2 },
      sort: { field: "name", order: "ASC" },
      filter: { q: tag },
    });
    expect(page1.total).toBe(3);
    expect(page1.data.map((u) => u.name)).toEqual(["Alice", "Bob"]);
    const page2 = await dataProvider.getList("users", {
      pagination: { page: 2, perPage: 2 },
      sort: { field: "name", order: "ASC" },
      filter: { q: tag },
    });
    expect(page2.data.map((u) => u.name)).toEqual(["Carol"]);
    const descending = await dataProvider.getList("users", {
      pagination: { page: 1, perPage: 10 },
      sort: { field: "email", order: "DESC" },
      filter: { q: tag, role: "USER", isActive: true },
    });
    expect(descending.data.map((u) => u.name)).toEqual(["Carol", "Bob", "Alice"]);

    // react-admin's default sort field is `id`: the API's default order instead, not a 422.
    const byId = await dataProvider.getList("users", {
      pagination: { page: 1, perPage: 10 },
      sort: { field: "id", order: "ASC" },
      filter: { q: tag },
    });
    expect(byId.total).toBe(3);
    expect(transport.calls.at(-1)?.url.searchParams.has("sort")).toBe(false);

    const many = await dataProvider.getMany("users", { ids: [bob.id, carol.id] });
    expect(many.data.map((u) => u.name)).toEqual(["Bob", "Carol"]);

    transport.reset();
    const updated = await dataProvider.update("users", {
      id: bob.id,
      // An edit form sends every field, including an empty "new password" input.
      data: { ...bob, name: "Robert", password: null },
      previousData: bob,
    });
    expect(updated.data).toMatchObject({ id: bob.id, name: "Robert", email: bob.email });
    expect(transport.count("PATCH", `/users/${bob.id}`, 200)).toBe(1);

    const updatedMany = await dataProvider.updateMany("users", { ids: [alice.id, carol.id], data: { isActive: false } });
    expect([...(updatedMany.data ?? [])].sort()).toEqual([alice.id, carol.id].sort());
    const inactive = await dataProvider.getList("users", {
      pagination: { page: 1, perPage: 10 },
      sort: { field: "name", order: "ASC" },
      filter: { q: tag, isActive: false },
    });
    expect(inactive.data.map((u) => u.name)).toEqual(["Alice", "Carol"]);

    const deleted = await dataProvider.delete("users", { id: alice.id, previousData: alice });
    expect(deleted.data.id).toBe(alice.id);
    const deletedMany = await dataProvider.deleteMany("users", { ids: [bob.id, carol.id] });
    expect(deletedMany.data).toEqual([bob.id, carol.id]);
    const left = await dataProvider.getList("users", { pagination: { page: 1, perPage: 10 }, filter: { q: tag } });
    expect(left).toMatchObject({ data: [], total: 0 });
  });

  test("items (as a user): create, getList with q, getOne, getManyReference, update, delete", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { dataProvider } = setup(user);
    const a = (await dataProvider.create("items", { data: { title: "Alpha widget", description: "first" } })).data;
    const b = (await dataProvider.create("items", { data: { title: "Beta widget" } })).data;
    await dataProvider.create("items", { data: { title: "Gamma gadget" } });
    expect(a).toMatchObject({ title: "Alpha widget", description: "first", ownerId: user.user.id });

    const widgets = await dataProvider.getList("items", {
      pagination: { page: 1, perPage: 10 },
      sort: { field: "title", order: "DESC" },
      filter: { q: "WIDGET" },
    });
    expect(widgets.total).toBe(2);
    expect(widgets.data.map((item) => item.title)).toEqual(["Beta widget", "Alpha widget"]);

    expect((await dataProvider.getOne("items", { id: b.id })).data.title).toBe("Beta widget");

    const owned = await dataProvider.getManyReference("items", {
      target: "ownerId",
      id: user.user.id,
      pagination: { page: 1, perPage: 2 },
      sort: { field: "createdAt", order: "ASC" },
      filter: {},
    });
    expect(owned.total).toBe(3);
    expect(owned.data.map((item) => item.title)).toEqual(["Alpha widget", "Beta widget"]);

    const renamed = await dataProvider.update("items", { id: a.id, data: { ...a, title: "Alpha prime" }, previousData: a });
    expect(renamed.data).toMatchObject({ id: a.id, title: "Alpha prime", description: "first" });

    await dataProvider.delete("items", { id: a.id });
    const error = await rejection(dataProvider.getOne("items", { id: a.id }));
    expect(error.status).toBe(404);
    expect(error.message).toBe("Item not found");
  });

  test("an admin reads items of a user through getManyReference", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    await user.session.request({ method: "POST", path: "/items", body: { title: "Owned by the user" } });
    const { dataProvider } = setup(admin);
    const owned = await dataProvider.getManyReference("items", {
      target: "ownerId",
      id: user.user.id,
      pagination: { page: 1, perPage: 10 },
      sort: { field: "id", order: "ASC" },
      filter: {},
    });
    expect(owned).toMatchObject({ total: 1, data: [{ title: "Owned by the user", ownerId: user.user.id }] });
  });

  test("sessions: list, getOne and delete; the other methods reject clearly", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const otherDevice = newSession();
    await otherDevice.session.login(user.email, user.password);
    const { dataProvider } = setup(user);

    const list = await dataProvider.getList("sessions", {
      pagination: { page: 1, perPage: 10 },
      sort: { field: "id", order: "ASC" },
      filter: {},
    });
    expect(list.total).toBe(2);
    const current = list.data.find((s) => s.current)!;
    const other = list.data.find((s) => !s.current)!;
    expect(current).toBeDefined();
    expect(other).toBeDefined();

    const onlyCurrent = await dataProvider.getList("sessions", {
      pagination: { page: 1, perPage: 10 },
      sort: { field: "createdAt", order: "ASC" },
      filter: { current: true },
    });
    expect(onlyCurrent.data.map((s) => s.id)).toEqual([current.id]);

    expect((await dataProvider.getOne("sessions", { id: other.id })).data.id).toBe(other.id);

    const otherToken = await currentAccessToken(otherDevice.session);
    await dataProvider.delete("sessions", { id: other.id, previousData: other });
    expect(await rawStatus("/users/me", otherToken)).toBe(401);
    const missing = await rejection(dataProvider.getOne("sessions", { id: other.id }));
    expect(missing.status).toBe(404);

    for (const attempt of [
      dataProvider.create("sessions", { data: {} }),
      dataProvider.update("sessions", { id: current.id, data: {}, previousData: current }),
      dataProvider.updateMany("sessions", { ids: [current.id], data: {} }),
    ]) {
      const error = await rejection(attempt);
      expect(error.status).toBe(405);
      expect(error.message).toMatch(/"sessions" resource does not support (create|update|updateMany)/);
    }
  });
});

describe("react-admin's query and mutation hooks", () => {
  test("useGetList (default sort `id`), useGetOne, useGetMany, useGetManyReference", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const ids: string[] = [];
    for (const title of ["one", "two", "three"]) {
      ids.push((await user.session.request<{ id: string }>({ method: "POST", path: "/items", body: { title } })).data.id);
    }
    const { wrapper } = setup(user);

    const list = renderHook(() => useGetList("items", { pagination: { page: 1, perPage: 2 } }), { wrapper }).result;
    await waitFor(() => expect(list.current.isSuccess).toBe(true));
    expect(list.current.total).toBe(3);
    expect(list.current.data).toHaveLength(2);

    const one = renderHook(() => useGetOne("items", { id: ids[1]! }), { wrapper }).result;
    await waitFor(() => expect(one.current.data?.title).toBe("two"));

    const many = renderHook(() => useGetMany("items", { ids: [ids[0]!, ids[2]!] }), { wrapper }).result;
    await waitFor(() => expect(many.current.data?.map((item) => item.title)).toEqual(["one", "three"]));

    const reference = renderHook(
      () =>
        useGetManyReference("items", {
          target: "ownerId",
          id: user.user.id,
          pagination: { page: 1, perPage: 5 },
          sort: { field: "title", order: "ASC" },
        }),
      { wrapper },
    ).result;
    await waitFor(() => expect(reference.current.data?.map((item) => item.title)).toEqual(["one", "three", "two"]));
    expect(reference.current.total).toBe(3);
  });

  test("useCreate, useUpdate, useUpdateMany, useDelete, useDeleteMany", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { wrapper, dataProvider } = setup(user);
    const hooks = renderHook(
      () => ({
        create: useCreate()[0],
        update: useUpdate()[0],
        updateMany: useUpdateMany()[0],
        remove: useDelete()[0],
        removeMany: useDeleteMany()[0],
      }),
      { wrapper },
    ).result;
    const options = { mutationMode: "pessimistic" as const, returnPromise: true as const };

    const made = [];
    for (const title of ["first", "second", "third"]) {
      made.push(await act(() => hooks.current.create("items", { data: { title } }, options)));
    }
    expect(made.map((item) => item.title)).toEqual(["first", "second", "third"]);
    const [first, second, third] = made as [(typeof made)[0], (typeof made)[0], (typeof made)[0]];

    const updated = await act(() =>
      hooks.current.update("items", { id: first.id, data: { description: "changed" }, previousData: first }, options),
    );
    expect(updated).toMatchObject({ id: first.id, title: "first", description: "changed" });

    const updatedIds = await act(() =>
      hooks.current.updateMany("items", { ids: [second.id, third.id], data: { description: "bulk" } }, options),
    );
    expect([...(updatedIds ?? [])].sort()).toEqual([second.id, third.id].sort());

    await act(() => hooks.current.remove("items", { id: first.id, previousData: first }, options));
    const removed = await act(() => hooks.current.removeMany("items", { ids: [second.id, third.id] }, options));
    expect(removed).toEqual([second.id, third.id]);
    expect(await dataProvider.getList("items", { pagination: { page: 1, perPage: 10 }, filter: {} })).toMatchObject({
      total: 0,
    });
  });
});

describe("errors as react-admin shows them", () => {
  test("a 422 surfaces a readable message, its status, and per-field errors for the form", async () => {
    const admin = await signedInAdmin();
    const { wrapper } = setup(admin);
    const create = renderHook(() => useCreate()[0], { wrapper }).result;
    let outcome: Promise<unknown> = Promise.resolve();
    await act(async () => {
      outcome = create.current(
        "users",
        { data: { email: "not an email", password: "short" } },
        { mutationMode: "pessimistic", returnPromise: true },
      );
      await outcome.catch(() => undefined);
    });
    const error = await rejection(outcome);
    expect(error.status).toBe(422);
    expect(error.message).toMatch(/^email: .+; password: must be at least 8 characters$/);
    expect(error.body.errors).toMatchObject({
      email: expect.stringMatching(/email/),
      password: "must be at least 8 characters",
      root: { serverError: error.message },
    });
  });

  test("an unknown sort field gets the API's message; 409 and 404 keep theirs", async () => {
    const admin = await signedInAdmin();
    const { dataProvider } = setup(admin);
    const sort = await rejection(
      dataProvider.getList("users", { pagination: { page: 1, perPage: 5 }, sort: { field: "role", order: "ASC" } }),
    );
    expect(sort.status).toBe(422);
    expect(sort.message).toMatch(/^sort: Input should be 'createdAt'/);

    const conflict = await rejection(
      dataProvider.create("users", { data: { email: api.adminEmail, password: "long enough password" } }),
    );
    expect(conflict.status).toBe(409);
    expect(conflict.message).toMatch(/already/i);

    const missing = await rejection(dataProvider.getOne("users", { id: "00000000-0000-4000-8000-000000000000" }));
    expect(missing).toMatchObject({ status: 404, message: "User not found" });
  });

  test("deleting the last admin is refused with the API's reason", async () => {
    const admin = await signedInAdmin();
    const me = await admin.session.getUser();
    const { dataProvider } = setup(admin);
    const error = await rejection(dataProvider.delete("users", { id: me.id }));
    // No test creates another admin: the first one is the last one.
    expect(error.status).toBe(409);
    expect(error.message.length).toBeGreaterThan(0);
  });
});

describe("authProvider through react-admin's auth hooks", () => {
  test("useLogin with react-admin's `username` field, then identity and permissions", async () => {
    const { wrapper, session } = setup();
    const hooks = renderHook(() => ({ login: useLogin() }), { wrapper }).result;
    await act(() => hooks.current.login({ username: api.adminEmail, password: api.adminPassword }));
    expect(session.hasSession()).toBe(true);

    const identity = renderHook(() => useGetIdentity(), { wrapper }).result;
    await waitFor(() => expect(identity.current.identity).toMatchObject({ email: api.adminEmail, role: "ADMIN" }));
    expect(identity.current.identity?.fullName).toBeTruthy();
    const permissions = renderHook(() => usePermissions(), { wrapper }).result;
    await waitFor(() => expect(permissions.current.permissions).toBe("ADMIN"));
    const access = renderHook(() => useCanAccess({ resource: "users", action: "list" }), { wrapper }).result;
    await waitFor(() => expect(access.current.canAccess).toBe(true));
  });

  test("wrong credentials: login rejects with the API's message", async () => {
    const { authProvider } = setup();
    const error = await rejection(authProvider.login({ email: api.adminEmail, password: "wrong password" }));
    expect(error).toMatchObject({ status: 401, message: "Invalid email or password" });
  });

  test("a non-admin is denied the users resource, not signed out by the 403", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { wrapper, dataProvider, session } = setup(user);
    const users = renderHook(() => useCanAccess({ resource: "users", action: "list" }), { wrapper }).result;
    const items = renderHook(() => useCanAccess({ resource: "items", action: "list" }), { wrapper }).result;
    await waitFor(() => expect(users.current.isPending).toBe(false));
    await waitFor(() => expect(items.current.isPending).toBe(false));
    expect(users.current.canAccess).toBe(false);
    expect(items.current.canAccess).toBe(true);
    const permissions = renderHook(() => usePermissions(), { wrapper }).result;
    await waitFor(() => expect(permissions.current.permissions).toBe("USER"));

    // Asking anyway: the API says 403, and react-admin's checkError keeps the user signed in.
    const error = await rejection(dataProvider.getList("users", { pagination: { page: 1, perPage: 5 } }));
    expect(error.status).toBe(403);
    const logoutIfDenied = renderHook(() => useLogoutIfAccessDenied(), { wrapper }).result;
    expect(await act(() => logoutIfDenied.current(error))).toBe(false);
    expect(session.hasSession()).toBe(true);
  });

  test("useLogout revokes the session: the old access and refresh tokens get 401", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { wrapper, session, storage } = setup(user);
    const access = await currentAccessToken(session);
    const refresh = session.refreshToken!;
    const logout = renderHook(() => useLogout(), { wrapper }).result;
    await act(() => logout.current());
    await until(() => !session.hasSession());
    expect(storage.values.size).toBe(0);
    expect(await rawStatus("/users/me", access)).toBe(401);
    const reuse = await globalThis.fetch(`${api.baseUrl}/api/v1/auth/refresh`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refreshToken: refresh }),
    });
    expect(reuse.status).toBe(401);
  });

  test("checkAuth: after a reload it refreshes; offline it keeps the session; signed out it rejects", async () => {
    const admin = await signedInAdmin();
    const reloaded = newSession({ storage: admin.storage });
    await expect(setup(reloaded).authProvider.checkAuth({})).resolves.toBeUndefined();
    expect(reloaded.transport.refreshes).toBe(1);

    const offline = newSession({
      storage: admin.storage,
      fetch: () => Promise.reject(new TypeError("Failed to fetch")),
    });
    await expect(createReactAdminProviders({ session: offline.session }).authProvider.checkAuth({})).resolves.toBeUndefined();
    expect(offline.session.hasSession()).toBe(true);

    await expect(setup().authProvider.checkAuth({})).rejects.toThrow("ra.auth.auth_check_error");
  });

  test("checkError signs out only when the refresh fails", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { wrapper, dataProvider, session, transport, authProvider } = setup(user);
    const logoutIfDenied = renderHook(() => useLogoutIfAccessDenied(), { wrapper }).result;

    // A 401 while the session can be refreshed: refreshed, not signed out.
    await expireAccessToken(session);
    transport.reset();
    await expect(authProvider.checkError(new HttpError("Could not validate credentials", 401))).resolves.toBeUndefined();
    expect(transport.refreshes).toBe(1);
    expect(session.hasSession()).toBe(true);

    // The session is revoked elsewhere (the admin deactivates the account): the refresh fails, so sign out.
    await admin.session.request({ method: "PATCH", path: `/users/${user.user.id}`, body: { isActive: false } });
    transport.reset();
    const error = await rejection(createReactAdminProviders({ session }).dataProvider.getList("items", {}));
    expect(error.status).toBe(401);
    expect(transport.refreshes).toBe(1);
    expect(session.hasSession()).toBe(false);
    expect(await act(() => logoutIfDenied.current(error))).toBe(true);
    await expect(authProvider.checkAuth({})).rejects.toThrow();

    // Through useDataProvider, react-admin itself calls checkError, signs out and answers an empty list.
    const viaHook = await dataProvider.getList("items", { pagination: { page: 1, perPage: 5 } });
    expect(viaHook.data).toEqual([]);
  });
});

describe("token refresh as react-admin sees it", () => {
  test("the access token expires between two pages of a list: one refresh, the list goes on", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    for (const title of ["a", "b", "c", "d"]) {
      await user.session.request({ method: "POST", path: "/items", body: { title } });
    }
    const { wrapper, session, transport } = setup(user);
    const list = renderHook(
      ({ page }: { page: number }) =>
        useGetList("items", { pagination: { page, perPage: 2 }, sort: { field: "title", order: "ASC" } }),
      { wrapper, initialProps: { page: 1 } },
    );
    await waitFor(() => expect(list.result.current.data?.map((item) => item.title)).toEqual(["a", "b"]));

    await expireAccessToken(session);
    transport.reset();
    list.rerender({ page: 2 });
    await waitFor(() => expect(list.result.current.data?.map((item) => item.title)).toEqual(["c", "d"]));
    expect(list.result.current.total).toBe(4);
    expect(transport.count("GET", "/items", 401)).toBe(1);
    expect(transport.refreshes).toBe(1);
    expect(transport.count("GET", "/items", 200)).toBe(1);
  });

  test("concurrent 401s share exactly one refresh", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const item = (await user.session.request<{ id: string }>({ method: "POST", path: "/items", body: { title: "x" } })).data;
    const { dataProvider, session, transport } = setup(user);

    await expireAccessToken(session);
    transport.reset();
    // Hold the refresh until every request has been answered 401, so they all overlap with it.
    let open!: () => void;
    transport.holdRefreshes(new Promise<void>((resolve) => (open = resolve)));
    const calls = [
      dataProvider.getList("items", { pagination: { page: 1, perPage: 5 } }),
      dataProvider.getList("items", { pagination: { page: 1, perPage: 5 }, filter: { q: "x" } }),
      dataProvider.getOne("items", { id: item.id }),
      dataProvider.getMany("items", { ids: [item.id] }),
      dataProvider.getList("sessions", { pagination: { page: 1, perPage: 5 } }),
    ];
    await until(() => transport.calls.filter((call) => call.status === 401).length >= calls.length);
    open();
    const results = await Promise.all(calls);
    expect(results.every((result) => result.data)).toBe(true);
    expect(transport.refreshes).toBe(1);
    expect(transport.calls.filter((call) => call.status === 401)).toHaveLength(calls.length);
  });
});
