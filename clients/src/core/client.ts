/**
 * The generated client (`src/generated`, from `openapi.json`) bound to a session:
 * operations that need a bearer token get the session's access token, and a 401
 * is answered by one refresh and a retry, exactly as for the data providers.
 *
 *     const api = createApiClient(session);
 *     const { data } = await usersMeRead({ client: api, throwOnError: true });
 */

import { type Client, createClient, createConfig } from "../generated/client";
import type { ClientOptions } from "../generated/types.gen";
import type { ApiSession } from "./session";

export function createApiClient(session: ApiSession): Client {
  return createClient(
    createConfig<ClientOptions>({
      baseUrl: session.baseUrl,
      fetch: session.fetch,
      auth: async () => (await session.getAccessToken()) ?? undefined,
    }),
  );
}
