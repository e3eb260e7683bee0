/**
 * react-admin providers for the API.
 *
 *     const { dataProvider, authProvider } = createReactAdminProviders({
 *       baseUrl: "http://localhost:8000",
 *     });
 *     <Admin dataProvider={dataProvider} authProvider={authProvider}>...</Admin>
 *
 * or, in the style of react-admin's own providers (the two share one session):
 *
 *     <Admin dataProvider={dataProvider(apiUrl)} authProvider={authProvider(apiUrl)}>
 *
 * Errors reach react-admin as its `HttpError`: `message` is the API's `detail`
 * (a 422 list made readable), `status` the HTTP status, `code` the API's
 * machine-readable code, `body` the JSON body; a 422 on request-body fields also
 * gets `body.errors` ({field: message}) so react-admin forms show each message
 * under its input.
 */

import {
  type AuthProvider,
  type DataProvider,
  type GetListResult,
  HttpError,
  type Identifier,
  type RaRecord,
  type UserIdentity,
} from "ra-core";

import { type AccessOptions, canAccess } from "../core/access";
import { createApiClient } from "../core/client";
import { isApiError } from "../core/errors";
import { type ResourceMap, Resources, type Row } from "../core/resources";
import { ApiSession, type ApiSessionOptions, type LoginParams, sharedSession } from "../core/session";
import type { Client } from "../generated/client";
import { type RealtimeMethods, realtimeMethods } from "./live";
import type { Role } from "../generated/types.gen";

/** react-admin's `HttpError` with the API's machine-readable `code`. */
export type ApiHttpError = HttpError & { code: string | undefined };

/**
 * Turns an `ApiError` into react-admin's `HttpError` (other errors, such as an
 * `AbortError`, are returned as they are).
 */
export function toHttpError(error: unknown): unknown {
  if (!isApiError(error)) return error;
  const body: Record<string, unknown> = { ...(error.body ?? {}) };
  if (Object.keys(error.fieldErrors).length > 0) {
    // react-admin's forms put each message under its input, and notify root.serverError.
    body["errors"] = { ...error.fieldErrors, root: { serverError: error.message } };
  }
  const httpError = new HttpError(error.message, error.status, body) as ApiHttpError;
  httpError.code = error.code;
  return httpError;
}

async function mapErrors<T>(task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    throw toHttpError(error);
  }
}

function pageOf(pagination: { page: number; perPage: number } | undefined) {
  const page = Math.max(1, pagination?.page ?? 1);
  const perPage = pagination?.perPage ?? 25;
  return { offset: (page - 1) * perPage, limit: perPage };
}

function listResult<RecordType extends RaRecord>(rows: Row[], total: number): GetListResult<RecordType> {
  return { data: rows as unknown as RecordType[], total };
}

/**
 * The data provider: every method of react-admin's contract, for `users`,
 * `items`, `sessions` (list, getOne, delete only) and any resource that follows
 * the API's list conventions.
 *
 * - getList / getManyReference: `pagination` → `offset`/`limit` (pages over 100
 *   rows are fetched 100 at a time), `sort` → `sort=field` / `sort=-field` (the
 *   default sort field `id` → the API's default sort), `filter` → query
 *   parameters (`q`, `role`, `isActive`, `ownerId`, `id: [...]`).
 * - getMany: the list's repeated `id` filter.
 * - update: PATCH with the fields that differ from `previousData`.
 * - updateMany / deleteMany: one request per id (the API has no bulk routes).
 */
export function createDataProvider(resources: Resources): DataProvider & RealtimeMethods {
  return {
    supportAbortSignal: true,
    ...realtimeMethods(resources.session),

    getList: <RecordType extends RaRecord = any>(resource: string, params: Parameters<DataProvider["getList"]>[1]) =>
      mapErrors(async () => {
        const { rows, total } = await resources.list(resource, {
          ...pageOf(params.pagination),
          sort: params.sort,
          filter: params.filter,
          signal: params.signal,
        });
        return listResult<RecordType>(rows, total);
      }),

    getOne: <RecordType extends RaRecord = any>(resource: string, params: Parameters<DataProvider["getOne"]>[1]) =>
      mapErrors(async () => ({
        data: (await resources.getOne(resource, params.id, params.signal)) as unknown as RecordType,
      })),

    getMany: <RecordType extends RaRecord = any>(resource: string, params: Parameters<DataProvider["getMany"]>[1]) =>
      mapErrors(async () => ({
        data: (await resources.getMany(resource, params.ids, params.signal)) as unknown as RecordType[],
      })),

    getManyReference: <RecordType extends RaRecord = any>(
      resource: string,
      params: Parameters<DataProvider["getManyReference"]>[1],
    ) =>
      mapErrors(async () => {
        const { rows, total } = await resources.list(resource, {
          ...pageOf(params.pagination),
          sort: params.sort,
          filter: { ...params.filter, [params.target]: params.id },
          signal: params.signal,
        });
        return listResult<RecordType>(rows, total);
      }),

    create: <RecordType extends Omit<RaRecord, "id"> = any, ResultRecordType extends RaRecord = RecordType & { id: Identifier }>(
      resource: string,
      params: Parameters<DataProvider["create"]>[1],
    ) =>
      mapErrors(async () => ({
        data: (await resources.create(resource, params.data)) as unknown as ResultRecordType,
      })),

    update: <RecordType extends RaRecord = any>(resource: string, params: Parameters<DataProvider["update"]>[1]) =>
      mapErrors(async () => ({
        data: (await resources.update(resource, params.id, params.data, params.previousData)) as unknown as RecordType,
      })),

    updateMany: <RecordType extends RaRecord = any>(resource: string, params: Parameters<DataProvider["updateMany"]>[1]) =>
      mapErrors(async () => ({
        data: (await resources.updateMany(resource, params.ids, params.data)).map((row) => row.id) as RecordType["id"][],
      })),

    delete: <RecordType extends RaRecord = any>(resource: string, params: Parameters<DataProvider["delete"]>[1]) =>
      mapErrors(async () => {
        await resources.delete(resource, params.id);
        // The API answers 204: give back what react-admin knew of the record.
        return { data: (params.previousData ?? { id: params.id }) as RecordType };
      }),

    deleteMany: <RecordType extends RaRecord = any>(resource: string, params: Parameters<DataProvider["deleteMany"]>[1]) =>
      mapErrors(async () => ({
        data: (await resources.deleteMany(resource, params.ids)) as RecordType["id"][],
      })),
  };
}

/** What `getIdentity` resolves: react-admin's `UserIdentity` plus the API's fields. */
export interface ApiUserIdentity extends UserIdentity {
  id: string;
  fullName: string;
  email: string;
  role: Role;
}

/**
 * The auth provider.
 *
 * - login({ email | username, password }): `POST /auth/login`; the access token
 *   stays in memory, the refresh token goes to the session's storage (in cookie mode
 *   both are the API's HttpOnly cookies). An account with
 *   two-factor sign-in is refused with code `TWO_FACTOR_REQUIRED` (status 202) and
 *   `body.challengeToken`: then login({ challengeToken, code }) finishes it.
 * - logout: `POST /auth/logout` (revokes the session server-side), then forgets both tokens.
 * - checkAuth: resolves while there is a session (refreshing a missing access token).
 * - checkError: a 401 means signed out only when the session cannot be refreshed;
 *   a 403 (not allowed) never signs out.
 * - getIdentity: `GET /users/me`. getPermissions: the role (`"ADMIN"` | `"USER"`).
 * - canAccess: from the role; `users` (and `adminOnlyResources`) need ADMIN.
 */
export function createAuthProvider(session: ApiSession, options: AccessOptions = {}): AuthProvider {
  const role = async (): Promise<Role | null> => {
    if (!session.hasSession()) return null;
    try {
      return (await session.getUser()).role;
    } catch {
      return null;
    }
  };
  return {
    login: (params: LoginParams) =>
      mapErrors(async () => {
        if (params.challengeToken !== undefined) {
          await session.loginWithCode(params.challengeToken, params.code ?? "");
          return;
        }
        // react-admin's own <Login> form names the field `username`.
        await session.login(params.email ?? params.username ?? "", params.password ?? "");
      }),

    logout: async () => {
      await session.logout();
    },

    checkAuth: async () => {
      // Refreshes a missing access token; a refused refresh ends the session, an
      // unanswered one (offline) keeps it.
      await session.getAccessToken();
      if (!session.hasSession()) throw new Error("ra.auth.auth_check_error");
    },

    checkError: async (error: { status?: number } | null | undefined) => {
      if (error?.status !== 401) return; // 403 and the rest: an error to show, not a sign-out
      if (!session.hasSession()) throw new Error("ra.notification.logged_out");
      let recovered: boolean;
      try {
        recovered = await session.recover();
      } catch {
        return; // the API did not answer the refresh: keep the session, the next try may work
      }
      if (!recovered) throw new Error("ra.notification.logged_out");
    },

    getIdentity: () =>
      mapErrors(async (): Promise<ApiUserIdentity> => {
        const user = await session.getUser({ fresh: true });
        return { id: user.id, fullName: user.name || user.email, email: user.email, role: user.role };
      }),

    getPermissions: async () => role(),

    canAccess: async ({ resource, action }: { resource: string; action: string }) =>
      canAccess(await role(), resource, action, options),
  };
}

export interface ReactAdminProvidersOptions extends ApiSessionOptions, AccessOptions {
  /** Extra or changed resources (see `ResourceConfig`). */
  resources?: ResourceMap;
  /** Use this session instead of creating one (to share it with other code). */
  session?: ApiSession;
}

export interface ReactAdminProviders {
  /** With `subscribe`/`unsubscribe` for live updates (see `./live`). */
  dataProvider: DataProvider & RealtimeMethods;
  authProvider: AuthProvider;
  /** The session both providers use (tokens, `request`, `getUser`, `fetch`). */
  session: ApiSession;
  /** The generated client bound to the session, for the routes that are not CRUD. */
  client: Client;
}

/** Everything a react-admin app needs, sharing one session. */
export function createReactAdminProviders(options: ReactAdminProvidersOptions = {}): ReactAdminProviders {
  const session = options.session ?? new ApiSession(options);
  return {
    dataProvider: createDataProvider(new Resources(session, options.resources)),
    authProvider: createAuthProvider(session, options),
    session,
    client: createApiClient(session),
  };
}

/** Options of `dataProvider(apiUrl, options)` and `authProvider(apiUrl, options)`. */
export type ProviderOptions = Omit<ReactAdminProvidersOptions, "baseUrl">;

function sessionOf(apiUrl: string, options: ProviderOptions): ApiSession {
  return options.session ?? sharedSession({ ...options, baseUrl: apiUrl });
}

/**
 * The data provider for the API at `apiUrl` (`http://localhost:8000` or
 * `http://localhost:8000/api/v1`). It shares its session with `authProvider(apiUrl)`:
 * one session per API and `storageKey`, made with the options of the first call
 * (`sharedSession` gives it to other code, such as `createApiClient`).
 */
export function dataProvider(apiUrl: string, options: ProviderOptions = {}): DataProvider & RealtimeMethods {
  return createDataProvider(new Resources(sessionOf(apiUrl, options), options.resources));
}

/** The auth provider for the API at `apiUrl`, sharing its session with `dataProvider(apiUrl)`. */
export function authProvider(apiUrl: string, options: ProviderOptions = {}): AuthProvider {
  return createAuthProvider(sessionOf(apiUrl, options), options);
}

export { ApiSession, sharedSession } from "../core/session";
export { realtimeMethods, useLiveRefresh } from "./live";
export type { RealtimeCallback, RealtimeEvent, RealtimeMethods } from "./live";
export { ApiError } from "../core/errors";
