/**
 * The generated client (`src/generated`, from `openapi.json`) bound to a session:
 * operations that need a bearer token get the session's access token (in cookie
 * mode the browser sends the API's cookies instead), and a 401 is answered by one
 * refresh and a retry, exactly as for the data providers.
 *
 *     const api = createApiClient(session);
 *     const { data } = await usersMeRead({ client: api, throwOnError: true });
 */

import { type Client, createClient, createConfig } from "../generated/client";
import { client as documentedClient } from "../generated/client.gen";
import type { ClientOptions } from "../generated/types.gen";
import type { ApiSession } from "./session";

/**
 * The path of the document's (relative) `servers` entry, which its operation
 * paths are relative to: `""` when it has none, or `/`.
 */
function documentedServerPath(): string {
  const documented = documentedClient.getConfig().baseUrl;
  return typeof documented === "string" && documented.startsWith("/") ? documented.replace(/\/+$/, "") : "";
}

export function createApiClient(session: ApiSession): Client {
  return createClient(
    createConfig<ClientOptions>({
      baseUrl: session.baseUrl + documentedServerPath(),
      fetch: session.fetch,
      auth: async () => (await session.getAccessToken()) ?? undefined,
      // Cookie mode: no token to give; the browser sends the API's cookies.
      ...(session.mode === "cookie" ? { credentials: "include" as const } : {}),
    }),
  );
}
