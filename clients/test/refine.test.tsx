/**
 * The Refine providers, driven through Refine's own hooks (@refinedev/core) inside
 * <Refine>, against the real API. Refine has no response validator of its own: its
 * hooks read `data` and `total` and their types are the contract, so the tests
 * read what the hooks give back.
 */

import {
  type HttpError,
  useCan,
  useCreate,
  useCreateMany,
  useCustom,
  useDataProvider,
  useDelete,
  useDeleteMany,
  useForgotPassword,
  useGetIdentity,
  useIsAuthenticated,
  useList,
  useLogin,
  useLogout,
  useMany,
  useOne,
  usePermissions,
  useRegister,
  useUpdate,
  useUpdateMany,
  useUpdatePassword,
} from "@refinedev/core";
import { act, renderHook, waitFor } from "@testing-library/react";
import { describe, expect, test } from "vitest";

import { type ApiRefineError, createRefineProviders, toQuery } from "../src/refine";
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
import { refineWrapper } from "./support/render";

function setup(made: ReturnType<typeof newSession> = newSession()) {
  const providers = createRefineProviders({ session: made.session });
  const wrapper = refineWrapper(providers);
  const dataProvider = renderHook(() => useDataProvider()(), { wrapper }).result.current;
  return { ...made, ...providers, wrapper, dataProvider };
}

async function rejection(promise: Promise<unknown>): Promise<ApiRefineError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  expect(typeof (error as HttpError).statusCode).toBe("number");
  return error as ApiRefineError;
}

describe("dataProvider through Refine's data hooks", () => {
  test("useList: pagination, sorters, eq and contains filters; useOne; useMany", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const ids: string[] = [];
    for (const title of ["Pear", "apple", "Banana", "cherry pie", "Apple pie"]) {
      ids.push((await user.session.request<{ id: string }>({ method: "POST", path: "/items", body: { title } })).data.id);
    }
    const { wrapper } = setup(user);

    const page = renderHook(
      ({ currentPage }: { currentPage: number }) =>
        useList({
          resource: "items",
          pagination: { currentPage, pageSize: 2 },
          sorters: [{ field: "title", order: "asc" }],
          filters: [{ field: "title", operator: "contains", value: "pie" }],
        }),
      { wrapper, initialProps: { currentPage: 1 } },
    );
    await waitFor(() => expect(page.result.current.query.isSuccess).toBe(true));
    expect(page.result.current.result.total).toBe(2);
    expect(page.result.current.result.data.map((item) => item.title)).toEqual(["Apple pie", "cherry pie"]);

    const all = renderHook(
      () =>
        useList({
          resource: "items",
          pagination: { currentPage: 2, pageSize: 2 },
          sorters: [{ field: "createdAt", order: "asc" }],
          filters: [{ field: "ownerId", operator: "eq", value: user.user.id }],
        }),
      { wrapper },
    ).result;
    await waitFor(() => expect(all.current.result.data.map((item) => item.title)).toEqual(["Banana", "cherry pie"]));
    expect(all.current.result.total).toBe(5);

    // Refine's `mode: "off"` wants every row at once.
    const everything = renderHook(
      () => useList({ resource: "items", pagination: { mode: "off" }, sorters: [{ field: "id", order: "asc" }] }),
      { wrapper },
    ).result;
    await waitFor(() => expect(everything.current.result.data).toHaveLength(5));

    const one = renderHook(() => useOne({ resource: "items", id: ids[1]! }), { wrapper }).result;
    await waitFor(() => expect(one.current.result?.title).toBe("apple"));

    const many = renderHook(() => useMany({ resource: "items", ids: [ids[4]!, ids[0]!] }), { wrapper }).result;
    await waitFor(() => expect(many.current.result.data.map((item) => item.title)).toEqual(["Apple pie", "Pear"]));
  });

  test("users as an admin: eq filters (role, isActive) and the `id` filter", async () => {
    const admin = await signedInAdmin();
    const tag = uniqueEmail("rf").split("@")[0]!;
    const made = [];
    for (const name of ["Ann", "Ben"]) {
      made.push(
        (
          await admin.session.request<{ id: string }>({
            method: "POST",
            path: "/users",
            body: { email: `${tag}-${name}@example.com`, password: "long enough password", name },
          })
        ).data,
      );
    }
    const { wrapper } = setup(admin);
    const list = renderHook(
      () =>
        useList({
          resource: "users",
          filters: [
            { field: "q", operator: "eq", value: tag },
            { field: "role", operator: "eq", value: "USER" },
            { field: "isActive", operator: "eq", value: true },
            { field: "name", operator: "contains", value: undefined },
          ],
          sorters: [{ field: "name", order: "desc" }],
        }),
      { wrapper },
    ).result;
    await waitFor(() => expect(list.current.result.data.map((u) => u.name)).toEqual(["Ben", "Ann"]));
    expect(list.current.result.total).toBe(2);
  });

  test("useCreate, useCreateMany, useUpdate, useUpdateMany, useDelete, useDeleteMany", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { wrapper, dataProvider } = setup(user);
    const hooks = renderHook(
      () => ({
        create: useCreate().mutateAsync,
        createMany: useCreateMany().mutateAsync,
        update: useUpdate().mutateAsync,
        updateMany: useUpdateMany().mutateAsync,
        remove: useDelete().mutateAsync,
        removeMany: useDeleteMany().mutateAsync,
      }),
      { wrapper },
    ).result;

    const created = await act(() => hooks.current.create({ resource: "items", values: { title: "solo" } }));
    expect(created.data).toMatchObject({ title: "solo", ownerId: user.user.id });
    const batch = await act(() =>
      hooks.current.createMany({ resource: "items", values: [{ title: "b1" }, { title: "b2", description: "two" }] }),
    );
    expect(batch.data.map((item) => item.title)).toEqual(["b1", "b2"]);

    const updated = await act(() =>
      hooks.current.update({ resource: "items", id: created.data.id!, values: { title: "solo!" }, mutationMode: "pessimistic" }),
    );
    expect(updated.data).toMatchObject({ id: created.data.id, title: "solo!" });

    const ids = batch.data.map((item) => item.id!);
    const updatedMany = await act(() =>
      hooks.current.updateMany({ resource: "items", ids, values: { description: "bulk" }, mutationMode: "pessimistic" }),
    );
    expect(updatedMany.data.map((item) => item.description)).toEqual(["bulk", "bulk"]);

    await act(() => hooks.current.remove({ resource: "items", id: created.data.id!, mutationMode: "pessimistic" }));
    await act(() => hooks.current.removeMany({ resource: "items", ids, mutationMode: "pessimistic" }));
    expect((await dataProvider.getList({ resource: "items" })).total).toBe(0);
  });

  test("sessions: list, getOne, deleteOne; create and update are refused clearly", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const other = newSession();
    await other.session.login(user.email, user.password);
    const { dataProvider } = setup(user);

    const list = await dataProvider.getList({ resource: "sessions", sorters: [{ field: "lastUsedAt", order: "desc" }] });
    expect(list.total).toBe(2);
    const theirs = list.data.find((s) => !s.current)!;
    expect((await dataProvider.getOne({ resource: "sessions", id: theirs.id! })).data.id).toBe(theirs.id);
    const token = await currentAccessToken(other.session);
    await dataProvider.deleteOne({ resource: "sessions", id: theirs.id! });
    expect(await rawStatus("/users/me", token)).toBe(401);

    const refused = await rejection(dataProvider.create({ resource: "sessions", variables: {} }));
    expect(refused).toMatchObject({ statusCode: 405, message: expect.stringMatching(/does not support create/) });
    const refusedUpdate = await rejection(dataProvider.update({ resource: "sessions", id: theirs.id!, variables: {} }));
    expect(refusedUpdate.statusCode).toBe(405);
  });

  test("custom: any other route with the session's token; getApiUrl", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { wrapper, dataProvider } = setup(user);
    expect(dataProvider.getApiUrl()).toBe(`${api.baseUrl}/api/v1`);

    const me = renderHook(() => useCustom({ url: `${api.baseUrl}/api/v1/users/me`, method: "get" }), { wrapper }).result;
    await waitFor(() => expect(me.current.result.data).toMatchObject({ email: user.email, role: "USER" }));

    await expireAccessToken(user.session);
    user.transport.reset();
    const changed = await dataProvider.custom!({ url: "/users/me", method: "patch", payload: { name: "Renamed" } });
    expect(changed.data).toMatchObject({ name: "Renamed" });
    expect(user.transport.refreshes).toBe(1);
  });

  test("filters the API cannot do are refused, not ignored", () => {
    expect(() => toQuery([{ field: "title", operator: "gt", value: "a" }])).toThrow(/does not support the "gt" filter/);
    expect(() => toQuery([{ operator: "or", value: [] }])).toThrow(/does not support "or" filters/);
    expect(toQuery([{ field: "id", operator: "in", value: ["a", "b"] }])).toEqual({ id: ["a", "b"] });
  });
});

describe("errors as Refine shows them", () => {
  test("a 422 surfaces a readable message, statusCode and per-field errors", async () => {
    const admin = await signedInAdmin();
    const { wrapper } = setup(admin);
    const create = renderHook(() => useCreate(), { wrapper }).result;
    let outcome: Promise<unknown> = Promise.resolve();
    await act(async () => {
      outcome = create.current.mutateAsync({ resource: "users", values: { email: "nope", password: "short" } });
      await outcome.catch(() => undefined);
    });
    const error = await rejection(outcome);
    expect(error.statusCode).toBe(422);
    expect(error.message).toMatch(/^email: .+; password: must be at least 8 characters$/);
    expect(error.errors).toMatchObject({ email: expect.any(String), password: "must be at least 8 characters" });
    await waitFor(() => expect(create.current.mutation.error?.message).toBe(error.message));
  });

  test("404 and 403 keep the API's message", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { dataProvider } = setup(user);
    const missing = await rejection(dataProvider.getOne({ resource: "items", id: "00000000-0000-4000-8000-000000000000" }));
    expect(missing).toMatchObject({ statusCode: 404, message: "Item not found" });
    const forbidden = await rejection(dataProvider.getList({ resource: "users" }));
    expect(forbidden).toMatchObject({ statusCode: 403, message: "Admin privileges required" });
  });
});

describe("authProvider and access control through Refine's auth hooks", () => {
  test("useLogin, useIsAuthenticated, useGetIdentity, usePermissions, useCan", async () => {
    const { wrapper, session } = setup();
    const login = renderHook(() => useLogin(), { wrapper }).result;
    const outcome = await act(() => login.current.mutateAsync({ email: api.adminEmail, password: api.adminPassword }));
    expect(outcome).toMatchObject({ success: true });
    expect(session.hasSession()).toBe(true);

    const auth = renderHook(() => useIsAuthenticated(), { wrapper }).result;
    await waitFor(() => expect(auth.current.data?.authenticated).toBe(true));
    const identity = renderHook(() => useGetIdentity<{ email: string; name: string; role: string }>(), { wrapper }).result;
    await waitFor(() => expect(identity.current.data).toMatchObject({ email: api.adminEmail, role: "ADMIN" }));
    const permissions = renderHook(() => usePermissions({}), { wrapper }).result;
    await waitFor(() => expect(permissions.current.data).toBe("ADMIN"));
    const can = renderHook(() => useCan({ resource: "users", action: "list" }), { wrapper }).result;
    await waitFor(() => expect(can.current.data?.can).toBe(true));
  });

  test("a wrong password fails the login with the API's message", async () => {
    const { authProvider } = setup();
    const outcome = await authProvider.login({ email: api.adminEmail, password: "wrong password" });
    expect(outcome.success).toBe(false);
    expect(outcome.error).toMatchObject({ message: "Invalid email or password", statusCode: 401 });
  });

  test("a non-admin is denied the users resource", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { wrapper, session } = setup(user);
    const users = renderHook(() => useCan({ resource: "users", action: "list" }), { wrapper }).result;
    const items = renderHook(() => useCan({ resource: "items", action: "list" }), { wrapper }).result;
    await waitFor(() => expect(users.current.data).toMatchObject({ can: false, reason: "Admins only" }));
    await waitFor(() => expect(items.current.data?.can).toBe(true));
    const list = renderHook(() => useList({ resource: "users" }), { wrapper }).result;
    await waitFor(() => expect(list.current.query.isError).toBe(true));
    expect((list.current.query.error as HttpError).statusCode).toBe(403);
    // Refine passes the 403 to onError: not a reason to sign out.
    expect(await act(() => setup(user).authProvider.onError(list.current.query.error))).toEqual({});
    expect(session.hasSession()).toBe(true);
  });

  test("useLogout revokes the session: the old access token gets 401", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { wrapper, session } = setup(user);
    const access = await currentAccessToken(session);
    const logout = renderHook(() => useLogout(), { wrapper }).result;
    await act(() => logout.current.mutateAsync({}));
    await until(() => !session.hasSession());
    expect(await rawStatus("/users/me", access)).toBe(401);
    const check = renderHook(() => useIsAuthenticated(), { wrapper }).result;
    await waitFor(() => expect(check.current.data).toMatchObject({ authenticated: false, redirectTo: "/login" }));
  });

  test("check: after a reload it refreshes; signed out it says where to go", async () => {
    const admin = await signedInAdmin();
    const reloaded = newSession({ storage: admin.storage });
    expect(await setup(reloaded).authProvider.check()).toEqual({ authenticated: true });
    expect(reloaded.transport.refreshes).toBe(1);
    expect(await setup().authProvider.check()).toMatchObject({ authenticated: false, logout: true, redirectTo: "/login" });
  });

  test("onError signs out only when the refresh fails", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const { authProvider, session, transport } = setup(user);
    await expireAccessToken(session);
    transport.reset();
    expect(await authProvider.onError({ statusCode: 401, message: "expired" })).toEqual({});
    expect(transport.refreshes).toBe(1);
    await admin.session.request({ method: "PATCH", path: `/users/${user.user.id}`, body: { isActive: false } });
    await expireAccessToken(session);
    expect(await authProvider.onError({ statusCode: 401, message: "revoked" })).toMatchObject({
      logout: true,
      redirectTo: "/login",
    });
    expect(session.hasSession()).toBe(false);
  });

  test("register, forgotPassword and updatePassword (current password)", async () => {
    const { wrapper, session } = setup();
    const email = uniqueEmail("reg");
    const hooks = renderHook(
      () => ({ register: useRegister(), forgot: useForgotPassword(), update: useUpdatePassword(), login: useLogin() }),
      { wrapper },
    ).result;
    expect(
      await act(() => hooks.current.register.mutateAsync({ email, password: "first password", name: "New" })),
    ).toMatchObject({ success: true });
    expect(await act(() => hooks.current.forgot.mutateAsync({ email }))).toMatchObject({ success: true });
    await act(() => hooks.current.login.mutateAsync({ email, password: "first password" }));
    expect(
      await act(() =>
        hooks.current.update.mutateAsync({ currentPassword: "first password", password: "second password" }),
      ),
    ).toMatchObject({ success: true });
    await session.logout();
    expect(await setup().authProvider.login({ email, password: "second password" })).toMatchObject({ success: true });
  });
});

describe("token refresh as Refine sees it", () => {
  test("the access token expires between two pages of a list: one refresh, the list goes on", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    for (const title of ["a", "b", "c", "d"]) {
      await user.session.request({ method: "POST", path: "/items", body: { title } });
    }
    const { wrapper, session, transport } = setup(user);
    const list = renderHook(
      ({ currentPage }: { currentPage: number }) =>
        useList({ resource: "items", pagination: { currentPage, pageSize: 2 }, sorters: [{ field: "title", order: "asc" }] }),
      { wrapper, initialProps: { currentPage: 1 } },
    );
    await waitFor(() => expect(list.result.current.result.data.map((item) => item.title)).toEqual(["a", "b"]));
    await expireAccessToken(session);
    transport.reset();
    list.rerender({ currentPage: 2 });
    await waitFor(() => expect(list.result.current.result.data.map((item) => item.title)).toEqual(["c", "d"]));
    expect(transport.count("GET", "/items", 401)).toBe(1);
    expect(transport.refreshes).toBe(1);
  });

  test("concurrent 401s from several hooks share exactly one refresh", async () => {
    const admin = await signedInAdmin();
    const user = await signedInAs(admin.session);
    const item = (await user.session.request<{ id: string }>({ method: "POST", path: "/items", body: { title: "x" } })).data;
    const { wrapper, session, transport } = setup(user);
    await expireAccessToken(session);
    transport.reset();
    let open!: () => void;
    transport.holdRefreshes(new Promise<void>((resolve) => (open = resolve)));
    const hooks = renderHook(
      () => ({
        list: useList({ resource: "items" }),
        one: useOne({ resource: "items", id: item.id }),
        many: useMany({ resource: "items", ids: [item.id] }),
        sessions: useList({ resource: "sessions" }),
      }),
      { wrapper },
    ).result;
    await until(() => transport.calls.filter((call) => call.status === 401).length >= 4);
    open();
    await waitFor(() => {
      expect(hooks.current.list.result.data).toHaveLength(1);
      expect(hooks.current.one.result?.title).toBe("x");
      expect(hooks.current.many.result.data).toHaveLength(1);
      expect(hooks.current.sessions.result.total).toBe(1);
    });
    expect(transport.refreshes).toBe(1);
  });
});
