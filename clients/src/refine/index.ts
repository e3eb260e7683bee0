/**
 * Refine providers for the API.
 *
 *     const { dataProvider, authProvider, accessControlProvider } =
 *       createRefineProviders({ baseUrl: "http://localhost:8000" });
 *     <Refine dataProvider={dataProvider} authProvider={authProvider}
 *             accessControlProvider={accessControlProvider} ...>
 *
 * Errors reach Refine as its `HttpError`: `message` is the API's `detail` (a 422
 * list made readable), `statusCode` the HTTP status, `code` the API's
 * machine-readable code, `body` the JSON body, and for a 422 on request-body
 * fields `errors` ({field: message}), which Refine's forms show per field.
 */

import type {
  AccessControlProvider,
  AuthActionResponse,
  AuthProvider,
  BaseKey,
  BaseRecord,
  CheckResponse,
  CrudFilter,
  CrudSort,
  CustomParams,
  DataProvider,
  HttpError,
  LiveProvider,
  OnErrorResponse,
  Pagination,
} from "@refinedev/core";

import { type AccessOptions, canAccess } from "../core/access";
import { createApiClient } from "../core/client";
import { ApiError, isApiError } from "../core/errors";
import { type ListRequest, MAX_PAGE_SIZE, type ResourceMap, Resources, type SortSpec } from "../core/resources";
import { ApiSession, type ApiSessionOptions, type LoginParams, type QueryParams } from "../core/session";
import type { Client } from "../generated/client";
import { createLiveProvider } from "./live";
import type { Role } from "../generated/types.gen";

/** Refine's `HttpError`, as an `Error`, with the API's `code` and body. */
export type ApiRefineError = Error &
  HttpError & {
    status: number;
    code: string | undefined;
    body: unknown;
  };

/** Turns an `ApiError` into Refine's `HttpError` (other errors are returned as they are). */
export function toRefineError(error: unknown): unknown {
  if (!isApiError(error)) return error;
  const refineError = new Error(error.message) as ApiRefineError;
  refineError.name = "HttpError";
  refineError.statusCode = error.status;
  refineError.status = error.status;
  refineError.code = error.code;
  refineError.body = error.body;
  if (Object.keys(error.fieldErrors).length > 0) refineError.errors = { ...error.fieldErrors };
  return refineError;
}

async function mapErrors<T>(task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    throw toRefineError(error);
  }
}

function unsupported(message: string): ApiError {
  return new ApiError(message, { status: 400, code: "FILTER_NOT_SUPPORTED" });
}

/**
 * Refine filters → the API's query parameters.
 *
 * - `eq` on any field → that query parameter (`role`, `isActive`, `ownerId`, `q`, ...).
 * - `contains` on any field → `q` (the API's case-insensitive search over the
 *   resource's search columns: users' email and name, items' title).
 * - `in` / `eq` on `id` → the repeated `id` parameter.
 * - Empty values (`undefined`, `null`, `""`, `[]`) are skipped, as Refine sends
 *   them for cleared filters. Anything else (`or`, `gt`, ...) is rejected.
 */
export function toQuery(filters: CrudFilter[] | undefined): QueryParams {
  const query: QueryParams = {};
  for (const filter of filters ?? []) {
    if (!("field" in filter)) {
      throw unsupported(`The API does not support "${filter.operator}" filters`);
    }
    const { field, operator, value } = filter;
    const empty = value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
    if (empty) continue;
    if (operator === "contains") query["q"] = value;
    else if (operator === "eq") query[field] = field === "id" ? [value].flat() : value;
    else if (operator === "in" && field === "id") query["id"] = [value].flat();
    else throw unsupported(`The API does not support the "${operator}" filter (on "${field}")`);
  }
  return query;
}

function toSort(sorters: CrudSort[] | undefined): SortSpec | undefined {
  // The API sorts by one field; the first sorter wins.
  const first = sorters?.[0];
  return first ? { field: first.field, order: first.order } : undefined;
}

function toRange(pagination: Pagination | undefined): Pick<ListRequest, "offset" | "limit"> {
  if (pagination?.mode === "off" || pagination?.mode === "client") {
    return { offset: 0, limit: Number.POSITIVE_INFINITY }; // every row; Refine pages itself
  }
  const currentPage = Math.max(1, pagination?.currentPage ?? 1);
  const pageSize = pagination?.pageSize ?? 10;
  return { offset: (currentPage - 1) * pageSize, limit: pageSize };
}

const signalOf = (meta: { queryContext?: { signal?: AbortSignal } } | undefined) => meta?.queryContext?.signal;

/**
 * The data provider: getList (pagination, sorters, filters), getOne, getMany
 * (the `id` filter), create, createMany, update, updateMany, deleteOne,
 * deleteMany, custom and getApiUrl, for `users`, `items`, `sessions` (list, getOne
 * and delete only) and any resource that follows the API's list conventions.
 */
export function createDataProvider(resources: Resources): DataProvider {
  const { session } = resources;
  return {
    getApiUrl: () => session.apiUrl,

    getList: <TData extends BaseRecord = BaseRecord>({ resource, pagination, sorters, filters, meta }: Parameters<DataProvider["getList"]>[0]) =>
      mapErrors(async () => {
        const { rows, total } = await resources.list(resource, {
          ...toRange(pagination),
          sort: toSort(sorters),
          filter: toQuery(filters),
          signal: signalOf(meta),
        });
        return { data: rows as unknown as TData[], total };
      }),

    getOne: <TData extends BaseRecord = BaseRecord>({ resource, id, meta }: Parameters<DataProvider["getOne"]>[0]) =>
      mapErrors(async () => ({
        data: (await resources.getOne(resource, id, signalOf(meta))) as unknown as TData,
      })),

    getMany: <TData extends BaseRecord = BaseRecord>({ resource, ids, meta }: Parameters<NonNullable<DataProvider["getMany"]>>[0]) =>
      mapErrors(async () => ({
        data: (await resources.getMany(resource, ids, signalOf(meta))) as unknown as TData[],
      })),

    create: <TData extends BaseRecord = BaseRecord, TVariables = {}>({ resource, variables }: Parameters<DataProvider["create"]>[0] & { variables: TVariables }) =>
      mapErrors(async () => ({
        data: (await resources.create(resource, variables as Record<string, unknown>)) as unknown as TData,
      })),

    createMany: <TData extends BaseRecord = BaseRecord, TVariables = {}>({ resource, variables }: { resource: string; variables: TVariables[] }) =>
      mapErrors(async () => {
        const created: TData[] = [];
        for (const values of variables) {
          created.push((await resources.create(resource, values as Record<string, unknown>)) as unknown as TData);
        }
        return { data: created };
      }),

    update: <TData extends BaseRecord = BaseRecord, TVariables = {}>({ resource, id, variables }: { resource: string; id: BaseKey; variables: TVariables }) =>
      mapErrors(async () => ({
        data: (await resources.update(resource, id, variables as Record<string, unknown>)) as unknown as TData,
      })),

    updateMany: <TData extends BaseRecord = BaseRecord, TVariables = {}>({ resource, ids, variables }: { resource: string; ids: BaseKey[]; variables: TVariables }) =>
      mapErrors(async () => ({
        data: (await resources.updateMany(resource, ids, variables as Record<string, unknown>)) as unknown as TData[],
      })),

    deleteOne: <TData extends BaseRecord = BaseRecord>({ resource, id }: { resource: string; id: BaseKey }) =>
      mapErrors(async () => {
        await resources.delete(resource, id);
        return { data: { id } as unknown as TData }; // the API answers 204
      }),

    deleteMany: <TData extends BaseRecord = BaseRecord>({ resource, ids }: { resource: string; ids: BaseKey[] }) =>
      mapErrors(async () => ({
        data: (await resources.deleteMany(resource, ids)).map((id) => ({ id })) as unknown as TData[],
      })),

    /**
     * Any other route, with the session's token and refresh: `url` is relative
     * to the API prefix (`/users/me`) or absolute. `filters`, `sorters` and
     * `query` become query parameters; `payload` the JSON body.
     */
    custom: <TData extends BaseRecord = BaseRecord, TQuery = unknown, TPayload = unknown>({
      url,
      method,
      filters,
      sorters,
      payload,
      query,
      headers,
    }: CustomParams<TQuery, TPayload>) =>
      mapErrors(async () => {
        const sort = toSort(sorters);
        const { data } = await session.request<TData>({
          method: method.toUpperCase() as "GET",
          path: url.startsWith(session.apiUrl) && session.apiUrl ? url.slice(session.apiUrl.length) : url,
          query: {
            ...toQuery(filters),
            ...(sort ? { sort: sort.order === "desc" ? `-${sort.field}` : sort.field } : {}),
            ...(query as QueryParams | undefined),
          },
          body: payload,
          headers: headers as Record<string, string> | undefined,
        });
        return { data };
      }),
  };
}

function failure(error: unknown, name: string): AuthActionResponse {
  const refineError = toRefineError(error);
  return {
    success: false,
    error: refineError instanceof Error ? Object.assign(refineError, { name }) : new Error(String(error)),
  };
}

export interface RefineAuthOptions {
  /** Where to go after sign-in. Default `/`. */
  afterLogin?: string;
  /** The sign-in page. Default `/login`. */
  loginPath?: string;
}

/**
 * The auth provider.
 *
 * - login({ email, password }): `POST /auth/login`; the access token stays in
 *   memory, the refresh token goes to the session's storage (in cookie mode both are
 *   the API's HttpOnly cookies). An account with
 *   two-factor sign-in fails with `error.code` `TWO_FACTOR_REQUIRED` and
 *   `error.body.challengeToken`: then login({ challengeToken, code }) finishes it.
 * - logout: `POST /auth/logout` (revokes the session server-side), then forgets both tokens.
 * - check: authenticated while there is a session (refreshing a missing access token).
 * - onError: a 401 signs out only when the session cannot be refreshed; a 403 never does.
 * - getIdentity: `GET /users/me` (plus `name` falling back to the email); getPermissions: the role.
 * - register: `POST /auth/register`; forgotPassword: `POST /auth/password-reset`;
 *   updatePassword: with `token` (from the reset link) `POST /auth/password-reset/confirm`,
 *   else with `currentPassword` `PATCH /users/me/password`.
 */
export function createAuthProvider(session: ApiSession, options: RefineAuthOptions = {}): AuthProvider {
  const loginPath = options.loginPath ?? "/login";
  return {
    login: async (params: LoginParams) => {
      try {
        if (params.challengeToken !== undefined) {
          await session.loginWithCode(params.challengeToken, params.code ?? "");
        } else {
          await session.login(params.email ?? params.username ?? "", params.password ?? "");
        }
        return { success: true, redirectTo: options.afterLogin ?? "/" };
      } catch (error) {
        return failure(error, "Sign-in failed");
      }
    },

    logout: async () => {
      await session.logout();
      return { success: true, redirectTo: loginPath };
    },

    check: async (): Promise<CheckResponse> => {
      // Refreshes a missing access token; a refused refresh ends the session, an
      // unanswered one (offline) keeps it.
      await session.getAccessToken();
      if (session.hasSession()) return { authenticated: true };
      return {
        authenticated: false,
        logout: true,
        redirectTo: loginPath,
        error: Object.assign(new Error("Not signed in"), { name: "Unauthorized" }),
      };
    },

    onError: async (error: { statusCode?: number; status?: number } | null | undefined): Promise<OnErrorResponse> => {
      const status = error?.statusCode ?? error?.status;
      if (status !== 401) return {}; // 403 and the rest: an error to show, not a sign-out
      if (session.hasSession()) {
        try {
          if (await session.recover()) return {};
        } catch {
          return {}; // the API did not answer the refresh: keep the session
        }
      }
      return { logout: true, redirectTo: loginPath, error: toRefineError(error) as Error };
    },

    getIdentity: async () => {
      if (!session.hasSession()) return null;
      try {
        const user = await session.getUser({ fresh: true });
        return { ...user, name: user.name || user.email };
      } catch {
        return null;
      }
    },

    getPermissions: async () => {
      if (!session.hasSession()) return null;
      try {
        return (await session.getUser()).role;
      } catch {
        return null;
      }
    },

    register: async (params: { email?: string; password?: string; name?: string }) => {
      try {
        await session.request({
          method: "POST",
          path: "/auth/register",
          body: { email: params.email, password: params.password, name: params.name || undefined },
          auth: false,
        });
        return {
          success: true,
          redirectTo: loginPath,
          successNotification: { message: "Account created", description: "You can sign in now." },
        };
      } catch (error) {
        return failure(error, "Registration failed");
      }
    },

    forgotPassword: async (params: { email?: string }) => {
      try {
        const { data } = await session.request<{ detail?: string }>({
          method: "POST",
          path: "/auth/password-reset",
          body: { email: params.email },
          auth: false,
        });
        return {
          success: true,
          redirectTo: loginPath,
          successNotification: { message: "Check your email", description: data?.detail ?? "" },
        };
      } catch (error) {
        return failure(error, "Password reset failed");
      }
    },

    updatePassword: async (params: { password?: string; token?: string; currentPassword?: string }) => {
      try {
        if (params.token) {
          await session.request({
            method: "POST",
            path: "/auth/password-reset/confirm",
            body: { token: params.token, newPassword: params.password },
            auth: false,
          });
          return { success: true, redirectTo: loginPath };
        }
        if (params.currentPassword !== undefined) {
          await session.request({
            method: "PATCH",
            path: "/users/me/password",
            body: { currentPassword: params.currentPassword, newPassword: params.password },
          });
          return { success: true, successNotification: { message: "Password changed" } };
        }
        return failure(
          new ApiError("Give the reset token or the current password", { status: 400, code: "PASSWORD_UPDATE_INCOMPLETE" }),
          "Password change failed",
        );
      } catch (error) {
        return failure(error, "Password change failed");
      }
    },
  };
}

/** Refine's access control from the role: `users` (and `adminOnlyResources`) need ADMIN. */
export function createAccessControlProvider(session: ApiSession, options: AccessOptions = {}): AccessControlProvider {
  return {
    can: async ({ resource, action }) => {
      if (!resource) return { can: true };
      let role: Role | null = null;
      if (session.hasSession()) {
        try {
          role = (await session.getUser()).role;
        } catch {
          role = null;
        }
      }
      const can = canAccess(role, resource, action, options);
      return can ? { can } : { can, reason: role ? "Admins only" : "Not signed in" };
    },
  };
}

export interface RefineProvidersOptions extends ApiSessionOptions, AccessOptions, RefineAuthOptions {
  /** Extra or changed resources (see `ResourceConfig`). */
  resources?: ResourceMap;
  /** Use this session instead of creating one (to share it with other code). */
  session?: ApiSession;
}

export interface RefineProviders {
  dataProvider: DataProvider;
  authProvider: AuthProvider;
  accessControlProvider: AccessControlProvider;
  /** Live updates from the API's `GET /live` (see `./live`). */
  liveProvider: LiveProvider;
  /** The session the providers use (tokens, `request`, `getUser`, `fetch`). */
  session: ApiSession;
  /** The generated client bound to the session, for the routes that are not CRUD. */
  client: Client;
}

/** Everything a Refine app needs, sharing one session. */
export function createRefineProviders(options: RefineProvidersOptions = {}): RefineProviders {
  const session = options.session ?? new ApiSession(options);
  return {
    dataProvider: createDataProvider(new Resources(session, options.resources)),
    authProvider: createAuthProvider(session, options),
    accessControlProvider: createAccessControlProvider(session, options),
    liveProvider: createLiveProvider(session),
    session,
    client: createApiClient(session),
  };
}

export { MAX_PAGE_SIZE };
export { createLiveProvider };
export { ApiSession } from "../core/session";
export { ApiError } from "../core/errors";
