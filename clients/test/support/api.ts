/** Test helpers: sessions on the test server, counted requests, users, tokens. */

import { createHmac, randomBytes } from "node:crypto";

import { inject } from "vitest";

import { ApiSession, type ApiSessionOptions, type TokenStorage } from "../../src/core/session";
import type { UserPublic } from "../../src/generated/types.gen";

export const api = inject("api");

export interface Call {
  method: string;
  url: URL;
  status: number;
  authorization: string | null;
}

/**
 * A transport that records every request it sends (method, URL, status), and can
 * hold refresh requests until a gate opens, to line up concurrent requests.
 */
export class CountingTransport {
  readonly calls: Call[] = [];
  private gate: Promise<void> | null = null;

  readonly fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = typeof input === "object" && "clone" in input && init === undefined ? input : null;
    const method = (request?.method ?? init?.method ?? "GET").toUpperCase();
    const url = new URL(request?.url ?? (input instanceof URL ? input.href : String(input)));
    const authorization = request
      ? request.headers.get("Authorization")
      : new Headers(init?.headers).get("Authorization");
    if (this.gate && url.pathname.endsWith("/auth/refresh")) await this.gate;
    const response = await globalThis.fetch(input, init);
    this.calls.push({ method, url, status: response.status, authorization });
    return response;
  };

  /** Holds every refresh request until `gate` resolves. */
  holdRefreshes(gate: Promise<void>): void {
    this.gate = gate;
  }

  count(method: string, pathSuffix: string, status?: number): number {
    return this.calls.filter(
      (call) =>
        call.method === method &&
        call.url.pathname.endsWith(pathSuffix) &&
        (status === undefined || call.status === status),
    ).length;
  }

  get refreshes(): number {
    return this.count("POST", "/auth/refresh");
  }

  reset(): void {
    this.calls.length = 0;
  }
}

export function memoryStorage(): TokenStorage & { values: Map<string, string> } {
  const values = new Map<string, string>();
  return {
    values,
    getItem: (key) => values.get(key) ?? null,
    setItem: (key, value) => void values.set(key, value),
    removeItem: (key) => void values.delete(key),
  };
}

/** A session on the test server with its own counted transport and storage. */
export function newSession(options: ApiSessionOptions = {}) {
  const transport = new CountingTransport();
  const storage = memoryStorage();
  const session = new ApiSession({ baseUrl: api.baseUrl, storage, fetch: transport.fetch, lock: null, ...options });
  return { session, transport, storage };
}

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}@example.com`;
}

/** A session signed in as the first admin. */
export async function signedInAdmin() {
  const made = newSession();
  await made.session.login(api.adminEmail, api.adminPassword);
  return made;
}

/** Creates an account (as admin, through the API) and returns its credentials. */
export async function createAccount(
  admin: ApiSession,
  options: { role?: "USER" | "ADMIN"; name?: string; prefix?: string } = {},
): Promise<{ email: string; password: string; user: UserPublic }> {
  const email = uniqueEmail(options.prefix ?? "user");
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const { data } = await admin.request<UserPublic>({
    method: "POST",
    path: "/users",
    body: { email, password, name: options.name ?? `Test ${email.split("@")[0]}`, role: options.role ?? "USER" },
  });
  return { email, password, user: data };
}

/** A session signed in as a new account. */
export async function signedInAs(admin: ApiSession, options: Parameters<typeof createAccount>[1] = {}) {
  const account = await createAccount(admin, options);
  const made = newSession();
  await made.session.login(account.email, account.password);
  return { ...made, ...account };
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

/**
 * The same access token, expired an hour ago and signed with the server's key:
 * what a client holds after leaving a tab open past the token's lifetime.
 */
export function expiredCopyOf(accessToken: string): string {
  const [header, payload] = accessToken.split(".") as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  const expired = base64url(JSON.stringify({ ...claims, iat: now - 7200, exp: now - 3600 }));
  const signature = createHmac("sha256", api.jwtSecret).update(`${header}.${expired}`).digest("base64url");
  return `${header}.${expired}.${signature}`;
}

/** The access token a session holds right now (read through a request it would send). */
export async function currentAccessToken(session: ApiSession): Promise<string> {
  const token = await session.getAccessToken();
  if (!token) throw new Error("the session has no access token");
  return token;
}

/** Makes the session's in-memory access token expired (its refresh token stays valid). */
export async function expireAccessToken(session: ApiSession): Promise<string> {
  const token = await currentAccessToken(session);
  const expired = expiredCopyOf(token);
  session.setTokens({ accessToken: expired, refreshToken: session.refreshToken!, expiresIn: 1800 });
  return expired;
}

/** GET /users/me with a given bearer token, bypassing every client: the raw status. */
export async function rawStatus(path: string, token: string, method = "GET"): Promise<number> {
  const response = await globalThis.fetch(`${api.baseUrl}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}` },
  });
  await response.arrayBuffer();
  return response.status;
}

/** Polls `check` until it returns true (no fixed sleeps: the machine may be slow). */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
