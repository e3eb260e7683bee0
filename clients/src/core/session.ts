/**
 * The signed-in session: tokens, refresh rotation and the authenticated fetch.
 *
 * - The access token lives in memory only (gone on reload, never in storage).
 * - The refresh token is kept in a `Storage` (default `localStorage`) so a reload
 *   or a new tab can get a fresh access token without signing in again.
 * - A request answered 401 triggers one refresh, then is retried once with the
 *   new access token. Only ONE refresh is in flight at a time: concurrent 401s
 *   (and concurrent callers of `refresh()`) share it. Across tabs, refreshes are
 *   serialized with the Web Locks API when the browser has it, and the refresh
 *   token is always read from storage, so two tabs never spend the same token
 *   (the API would take that for a stolen token and revoke the session).
 * - A refresh the API refuses (spent, revoked or expired session) ends the
 *   session: both tokens are forgotten and `hasSession()` turns false.
 * - In cookie mode (`mode: "cookie"`) the API keeps both tokens in HttpOnly cookies
 *   that no script can read: the session holds no token at all, only whether it is
 *   signed in (a marker in storage). Requests go with `credentials: "include"`, a 401
 *   is answered by a refresh with the refresh cookie and one retry, as above.
 */

import type { CookieSession, TokenPair, TwoFactorChallenge, UserPublic } from "../generated/types.gen";
import { ApiError, apiErrorFrom, networkError } from "./errors";

/** `ApiError.code` of a right password whose account signs in with a second factor. */
export const TWO_FACTOR_REQUIRED = "TWO_FACTOR_REQUIRED";

/**
 * What the auth providers' `login` takes: the email (react-admin's form says
 * `username`) and password; or, after a `TWO_FACTOR_REQUIRED` refusal, its
 * `body.challengeToken` and the user's code (or a recovery code).
 */
export interface LoginParams {
  email?: string;
  username?: string;
  password?: string;
  challengeToken?: string;
  code?: string;
}

/** The part of the DOM `Storage` interface the session needs. */
export type TokenStorage = Pick<Storage, "getItem" | "setItem" | "removeItem">;

/** Runs `task` while holding the named lock (e.g. across browser tabs). */
export type LockRunner = <T>(name: string, task: () => Promise<T>) => Promise<T>;

/**
 * Where the tokens live: `"bearer"` (the default) keeps them here and sends
 * `Authorization: Bearer`; `"cookie"` lets the API keep them in HttpOnly cookies.
 */
export type AuthMode = "bearer" | "cookie";

export interface ApiSessionOptions {
  /**
   * `"cookie"`: sign in with `X-Auth-Mode: cookie`, so the tokens are HttpOnly
   * cookies that JavaScript never sees (the API must allow this page's origin in
   * `CORS_ORIGINS`, with credentials). Default `"bearer"`.
   */
  mode?: AuthMode;
  /**
   * Where the API is: the server root (`http://localhost:8000`) or the API's own URL
   * (`http://localhost:8000/api/v1`), with or without a trailing slash; `""` (the
   * default) or `/api/v1` when the app is served from the same origin as the API.
   */
  baseUrl?: string;
  /** The API prefix (`API_V1_PREFIX` on the server). Default `/api/v1`. */
  apiPrefix?: string;
  /**
   * Where the refresh token is kept (in cookie mode: only that there is a session).
   * Default: `localStorage` when there is one, else memory. Pass `sessionStorage` to
   * forget it with the tab, or `null` to keep it in memory only (signed out on reload).
   */
  storage?: TokenStorage | null;
  /** Storage key of the refresh token. Default `sqlmodel-api.refresh-token`. */
  storageKey?: string;
  /** The transport used for every request. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * Serializes refreshes across tabs. Default: `navigator.locks` when present,
   * else none (one tab: the in-memory single flight is enough).
   */
  lock?: LockRunner | null;
  /**
   * Refresh proactively when the access token has less than this left (ms), so
   * most requests never see a 401. Default 10 000. The 401 path stays the rule.
   */
  refreshMarginMs?: number;
  /** Called when the session ends: sign-out, or a refresh the API refused. */
  onSessionEnd?: (reason: SessionEndReason) => void;
}

/** Why a session ended: the user signed out, or the API refused to refresh it. */
export type SessionEndReason = "logout" | "refresh-refused";

/** Query parameters: arrays repeat the key (`id=a&id=b`), `undefined`/`null`/`""` are left out. */
export type QueryParams = Record<string, unknown>;

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";
  /** Path under the API prefix (`/users`), or an absolute URL. */
  path: string;
  query?: QueryParams;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as `multipart/form-data` instead (an upload); the browser sets its boundary. */
  form?: FormData;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Send the access token (and refresh on 401). Default true. */
  auth?: boolean;
}

export interface ApiResponse<T> {
  data: T;
  response: Response;
}

const DEFAULT_STORAGE_KEY = "sqlmodel-api.refresh-token";
const LOCK_NAME = "sqlmodel-api.refresh";
/** What cookie mode stores instead of a token: that there is a session. */
const COOKIE_SESSION = "cookie-session";
const COOKIE_MODE_HEADERS = { "X-Auth-Mode": "cookie" };

function memoryStorage(): TokenStorage {
  const values = new Map<string, string>();
  return {
    getItem: (key) => values.get(key) ?? null,
    setItem: (key, value) => void values.set(key, value),
    removeItem: (key) => void values.delete(key),
  };
}

function defaultStorage(): TokenStorage {
  try {
    const storage = (globalThis as { localStorage?: Storage }).localStorage;
    if (storage) {
      const probe = `${DEFAULT_STORAGE_KEY}.probe`;
      storage.setItem(probe, "1");
      storage.removeItem(probe);
      return storage;
    }
  } catch {
    // Storage disabled (private mode, sandboxed frame, server-side rendering).
  }
  return memoryStorage();
}

function defaultLock(): LockRunner | null {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (!locks || typeof locks.request !== "function") return null;
  return <T>(name: string, task: () => Promise<T>) =>
    locks.request(name, { mode: "exclusive" }, task) as Promise<T>;
}

/** `/api/v1` for `api/v1/` or `/api/v1`; `""` for `""` or `/`. */
function normalizedPrefix(apiPrefix: string): string {
  const trimmed = apiPrefix.replace(/^\/+|\/+$/g, "");
  return trimmed ? `/${trimmed}` : "";
}

/**
 * Where a `baseUrl` points: the server root and the API's URL under it, whether
 * `baseUrl` names the root or the API (`http://host:8000`, `http://host:8000/api/v1/`).
 */
export function resolveBaseUrl(baseUrl = "", apiPrefix = "/api/v1"): { baseUrl: string; apiUrl: string } {
  const prefix = normalizedPrefix(apiPrefix);
  let root = baseUrl.replace(/\/+$/, "");
  if (prefix && root.endsWith(prefix)) root = root.slice(0, -prefix.length);
  return { baseUrl: root, apiUrl: root + prefix };
}

const sharedSessions = new Map<string, ApiSession>();

/**
 * The one session of an API URL and storage key: every caller that names the same
 * API (in any of the `baseUrl` forms) and `storageKey` gets the same `ApiSession`,
 * made with the options of the first call. `dataProvider(url)` and
 * `authProvider(url)` of `./react-admin` share their session this way.
 */
export function sharedSession(options: ApiSessionOptions = {}): ApiSession {
  const { apiUrl } = resolveBaseUrl(options.baseUrl, options.apiPrefix);
  const key = JSON.stringify([apiUrl, options.storageKey ?? DEFAULT_STORAGE_KEY]);
  let session = sharedSessions.get(key);
  if (!session) {
    session = new ApiSession(options);
    sharedSessions.set(key, session);
  }
  return session;
}

export function isAbortError(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    (error as { name?: unknown }).name === "AbortError"
  );
}

/** `a=1&id=x&id=y`: arrays repeat their key; booleans are `true`/`false`; dates ISO 8601. */
export function toQueryString(query: QueryParams | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  const add = (key: string, value: unknown) => {
    if (value === undefined || value === null || value === "") return;
    if (value instanceof Date) params.append(key, value.toISOString());
    else if (typeof value === "object") params.append(key, JSON.stringify(value));
    else params.append(key, String(value));
  };
  for (const [key, value] of Object.entries(query)) {
    if (Array.isArray(value)) value.forEach((v) => add(key, v));
    else add(key, value);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

function isRequest(input: unknown): input is Request {
  return (
    typeof input === "object" &&
    input !== null &&
    !(input instanceof URL) &&
    typeof (input as Request).clone === "function" &&
    typeof (input as Request).url === "string"
  );
}

function bearerOf(headers: Headers): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(headers.get("Authorization") ?? "");
  return match?.[1] ?? null;
}

export class ApiSession {
  /** Server root (`baseUrl` without the API prefix): what the generated client's paths are relative to. */
  readonly baseUrl: string;
  /** Server root + API prefix: what resource paths are relative to. */
  readonly apiUrl: string;
  /** Where the tokens live: here (`"bearer"`) or in the API's HttpOnly cookies (`"cookie"`). */
  readonly mode: AuthMode;

  private readonly storage: TokenStorage;
  private readonly storageKey: string;
  private readonly transport: typeof fetch;
  private readonly lock: LockRunner | null;
  private readonly refreshMarginMs: number;
  private readonly onSessionEnd: ApiSessionOptions["onSessionEnd"];

  private accessToken: string | null = null;
  private accessRefreshAt = 0;
  private signIns = 0; // cookie mode: sign-ins and refreshes so far, to tell a 401 of stale cookies
  private refreshing: Promise<boolean> | null = null;
  private user: Promise<UserPublic> | null = null;

  constructor(options: ApiSessionOptions = {}) {
    const where = resolveBaseUrl(options.baseUrl, options.apiPrefix);
    this.baseUrl = where.baseUrl;
    this.apiUrl = where.apiUrl;
    this.mode = options.mode ?? "bearer";
    this.storage = options.storage === null ? memoryStorage() : (options.storage ?? defaultStorage());
    this.storageKey = options.storageKey ?? DEFAULT_STORAGE_KEY;
    const transport = options.fetch ?? globalThis.fetch;
    // Bound: a detached `window.fetch` throws "Illegal invocation" in browsers.
    this.transport = (input, init) => transport(input, init);
    this.lock = options.lock === undefined ? defaultLock() : options.lock;
    this.refreshMarginMs = options.refreshMarginMs ?? 10_000;
    this.onSessionEnd = options.onSessionEnd;
  }

  // --- state -------------------------------------------------------------------

  private stored(): string | null {
    try {
      return this.storage.getItem(this.storageKey);
    } catch {
      return null;
    }
  }

  private store(value: string): void {
    try {
      this.storage.setItem(this.storageKey, value);
    } catch {
      // Storage full or refused: the session still works until the tab closes.
    }
  }

  private get cookieMode(): boolean {
    return this.mode === "cookie";
  }

  /** The stored refresh token, if any (never in cookie mode: the API keeps it in a cookie). */
  get refreshToken(): string | null {
    return this.cookieMode ? null : this.stored();
  }

  /**
   * Whether there is a session to use: an access token in memory or a stored refresh
   * token; in cookie mode, a sign-in that has not ended (the cookies may still have expired).
   */
  hasSession(): boolean {
    if (this.cookieMode) return this.stored() === COOKIE_SESSION;
    return this.accessToken !== null || this.refreshToken !== null;
  }

  private refreshAheadOf(expiresIn: number | undefined): void {
    if (expiresIn === undefined) {
      this.accessRefreshAt = Number.POSITIVE_INFINITY;
    } else {
      // Refresh `refreshMarginMs` before expiry, but never in the first half of its life.
      const lifetime = expiresIn * 1000;
      this.accessRefreshAt = Date.now() + Math.max(lifetime - this.refreshMarginMs, lifetime / 2);
    }
  }

  /** Adopt the answer of a sign-in or refresh: a token pair, or (cookie mode) the cookies' session. */
  private adopt(answer: TokenPair | CookieSession): void {
    if (answer.tokenType !== "cookie") {
      this.setTokens(answer);
      return;
    }
    this.refreshAheadOf(answer.expiresIn);
    this.signIns += 1;
    this.store(COOKIE_SESSION);
  }

  /** Adopt a token pair (from sign-in or refresh). */
  setTokens(pair: Pick<TokenPair, "accessToken" | "refreshToken"> & { expiresIn?: number }): void {
    this.accessToken = pair.accessToken;
    this.refreshAheadOf(pair.expiresIn);
    this.store(pair.refreshToken);
  }

  /** Forget both tokens (in cookie mode: the session) and the cached user, locally (no request). */
  clear(): void {
    this.accessToken = null;
    this.accessRefreshAt = 0;
    this.user = null;
    try {
      this.storage.removeItem(this.storageKey);
    } catch {
      // Nothing stored.
    }
  }

  private end(reason: SessionEndReason): void {
    this.clear();
    this.onSessionEnd?.(reason);
  }

  // --- sign-in, refresh, sign-out ----------------------------------------------------

  /**
   * Sign in; keeps the tokens. Throws `ApiError` (401 wrong credentials, 403 inactive,
   * 429 throttled). For an account with two-factor sign-in the password alone opens no
   * session: it throws `ApiError` with code `TWO_FACTOR_REQUIRED` (status 202) whose
   * `body.challengeToken` goes to `loginWithCode` with the user's code. In cookie
   * mode the answer is a `CookieSession`: the tokens are the API's cookies.
   */
  async login(email: string, password: string): Promise<TokenPair | CookieSession> {
    const { data } = await this.request<TokenPair | CookieSession | TwoFactorChallenge>({
      method: "POST",
      path: "/auth/login",
      body: { email, password },
      headers: this.modeHeaders(),
      auth: false,
    });
    if ("challengeToken" in data) {
      throw new ApiError("Enter the code from your authenticator app, or a recovery code", {
        status: 202,
        code: TWO_FACTOR_REQUIRED,
        body: { ...data },
      });
    }
    this.clear();
    this.adopt(data);
    return data;
  }

  /** Finish a two-factor sign-in with the challenge of `login` and a code (or a recovery code). */
  async loginWithCode(challengeToken: string, code: string): Promise<TokenPair | CookieSession> {
    const { data } = await this.request<TokenPair | CookieSession>({
      method: "POST",
      path: "/auth/login/two-factor",
      body: { challengeToken, code },
      headers: this.modeHeaders(),
      auth: false,
    });
    this.clear();
    this.adopt(data);
    return data;
  }

  private modeHeaders(): Record<string, string> {
    return this.cookieMode ? { ...COOKIE_MODE_HEADERS } : {};
  }

  private credentials(): Pick<RequestInit, "credentials"> {
    return this.cookieMode ? { credentials: "include" } : {};
  }

  /**
   * Get a new token pair with the stored refresh token. Resolves `true` when the
   * session goes on, `false` when it is over (the API refused the token, or there
   * is none): the tokens are then forgotten. Throws `ApiError` when the API could
   * not answer (network, 429, 5xx): the session is kept, try again later.
   *
   * At most one refresh runs at a time: concurrent calls share it.
   */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.runRefresh().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /**
   * Recover from a 401 of a request sent with `rejectedToken`: when the access
   * token has changed since (another request refreshed meanwhile), nothing to do;
   * else refresh (joining the refresh in flight, if any).
   */
  async recover(rejectedToken?: string | null): Promise<boolean> {
    if (this.cookieMode) return this.hasSession() ? this.refresh() : false;
    if (this.accessToken !== null && rejectedToken && this.accessToken !== rejectedToken) return true;
    if (this.refreshing) return this.refreshing;
    if (this.refreshToken === null) {
      if (this.accessToken !== null) this.end("refresh-refused");
      return false;
    }
    return this.refresh();
  }

  private async runRefresh(): Promise<boolean> {
    const task = async (): Promise<boolean> => {
      // Read inside the lock: another tab may have rotated it meanwhile.
      const refreshToken = this.refreshToken;
      if (refreshToken === null && !(this.cookieMode && this.hasSession())) {
        this.end("refresh-refused");
        return false;
      }
      let response: Response;
      try {
        response = await this.transport(`${this.apiUrl}/auth/refresh`, {
          method: "POST",
          // Cookie mode: the browser sends the refresh cookie (its path is this URL's).
          headers: this.cookieMode
            ? { ...COOKIE_MODE_HEADERS, Accept: "application/json" }
            : { "Content-Type": "application/json", Accept: "application/json" },
          body: this.cookieMode ? null : JSON.stringify({ refreshToken }),
          ...this.credentials(),
        });
      } catch (error) {
        throw networkError(error);
      }
      if (response.ok) {
        this.adopt((await response.json()) as TokenPair | CookieSession);
        return true;
      }
      const error = await apiErrorFrom(response);
      if ([400, 401, 403, 404, 422].includes(response.status)) {
        this.end("refresh-refused");
        return false;
      }
      throw error; // 429, 5xx: the session may well be fine
    };
    return this.lock ? this.lock(LOCK_NAME, task) : task();
  }

  /**
   * A usable access token: the one in memory, or a fresh one when it is missing
   * or about to expire and a refresh token is stored. `null` when signed out, and
   * always in cookie mode (after refreshing the cookies when they are about to
   * expire, or not known since a reload).
   */
  async getAccessToken(): Promise<string | null> {
    if (this.cookieMode) {
      if (this.hasSession() && Date.now() >= this.accessRefreshAt) {
        await this.refresh().catch(() => undefined); // no answer: try with the cookies we have
      }
      return null;
    }
    if (this.accessToken !== null && Date.now() < this.accessRefreshAt) {
      return this.accessToken;
    }
    if (this.refreshToken === null) return this.accessToken;
    try {
      await this.refresh();
    } catch {
      // The API did not answer the refresh: try with what we have.
    }
    return this.accessToken;
  }

  /**
   * Sign out: revoke the session on the server (`POST /auth/logout`), then forget
   * the tokens whatever the answer (an already revoked session, or no network).
   */
  async logout(): Promise<void> {
    try {
      if (this.hasSession()) {
        await this.request({ method: "POST", path: "/auth/logout", headers: this.modeHeaders() });
      }
    } catch {
      // Revoked already, or offline: the local sign-out below still happens.
    } finally {
      this.end("logout");
    }
  }

  /** The signed-in user (`GET /users/me`), cached until sign-in/sign-out; `fresh` asks again. */
  getUser(options: { fresh?: boolean } = {}): Promise<UserPublic> {
    if (!this.user || options.fresh) {
      const user = this.request<UserPublic>({ path: "/users/me" }).then(({ data }) => data);
      this.user = user;
      user.catch(() => {
        if (this.user === user) this.user = null;
      });
    }
    return this.user;
  }

  // --- requests --------------------------------------------------------------------

  /**
   * `fetch` with session handling, for the generated client (or any code): a
   * request that carries `Authorization: Bearer ...` and is answered 401 is sent
   * again once after a refresh. Requests without a bearer token pass through.
   */
  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    if (this.cookieMode) return this.cookieFetch(input, init);
    if (isRequest(input) && init === undefined) {
      const bearer = bearerOf(input.headers);
      if (bearer === null) return this.transport(input);
      const spare = input.clone();
      const response = await this.transport(input);
      if (response.status !== 401 || !(await this.recoverQuietly(bearer))) return response;
      await response.arrayBuffer().catch(() => undefined); // free the connection
      spare.headers.set("Authorization", `Bearer ${this.accessToken}`);
      return this.transport(spare);
    }
    const headers = new Headers(init?.headers);
    const bearer = bearerOf(headers);
    if (bearer === null) return this.transport(input, init);
    const response = await this.transport(input, init);
    if (response.status !== 401 || !(await this.recoverQuietly(bearer))) return response;
    await response.arrayBuffer().catch(() => undefined); // free the connection
    headers.set("Authorization", `Bearer ${this.accessToken}`);
    return this.transport(input, { ...init, headers });
  };

  /**
   * Cookie mode's `fetch`: with the cookies (`credentials: "include"`); a 401 while
   * signed in is sent again once after a refresh (or at once when another request
   * refreshed since this one was sent).
   */
  private async cookieFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const withCookies: RequestInit = { ...init, credentials: "include" };
    const spare = isRequest(input) ? input.clone() : input;
    const sent = this.signIns;
    const response = await this.transport(input, withCookies);
    if (response.status !== 401 || !this.hasSession()) return response;
    let recovered: boolean;
    try {
      recovered = this.signIns !== sent || (await this.refresh());
    } catch {
      return response; // the refresh got no answer: hand the 401 back
    }
    if (!recovered) return response;
    await response.arrayBuffer().catch(() => undefined); // free the connection
    return this.transport(spare, withCookies);
  }

  private async recoverQuietly(rejectedToken: string): Promise<boolean> {
    try {
      return (await this.recover(rejectedToken)) && this.accessToken !== null;
    } catch {
      return false; // the refresh got no answer: hand the 401 back
    }
  }

  /** URL of an API path (`/users`) with its query string. */
  url(path: string, query?: QueryParams): string {
    const base = /^[a-z][a-z0-9+.-]*:/i.test(path) ? path : `${this.apiUrl}${path.startsWith("/") ? "" : "/"}${path}`;
    return base + toQueryString(query);
  }

  /**
   * One JSON request to the API. Resolves `{data, response}` (`data` is
   * `undefined` for an empty answer such as 204); rejects with `ApiError` for any
   * answer that is not 2xx, or none (status 0). An abort rejects with the
   * `AbortError` as is.
   */
  async request<T>(options: RequestOptions): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const auth = options.auth ?? true;
    if (auth) {
      const token = await this.getAccessToken();
      if (token !== null) headers["Authorization"] = `Bearer ${token}`;
    }
    let response: Response;
    try {
      // Without `auth`, a 401 is the answer itself (a wrong password): no refresh.
      response = await (auth ? this.fetch : this.transport)(this.url(options.path, options.query), {
        method: options.method ?? "GET",
        headers,
        body: options.form ?? (options.body === undefined ? null : JSON.stringify(options.body)),
        signal: options.signal ?? null,
        ...this.credentials(),
      });
    } catch (error) {
      if (isAbortError(error)) throw error;
      throw networkError(error);
    }
    if (!response.ok) throw await apiErrorFrom(response);
    const text = response.status === 204 ? "" : await response.text();
    let data: unknown = undefined;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (cause) {
        throw new ApiError("The API answered with a body that is not JSON", {
          status: response.status,
          response,
          cause,
        });
      }
    }
    return { data: data as T, response };
  }
}
