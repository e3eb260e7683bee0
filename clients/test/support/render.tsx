/** Rendering hooks inside each admin framework's own context, with our providers. */

import { Refine } from "@refinedev/core";
import { QueryClient } from "@tanstack/react-query";
import { configure } from "@testing-library/react";
import { CoreAdminContext, type DataProvider as RaDataProvider, type AuthProvider as RaAuthProvider, memoryStore, TestMemoryRouter } from "ra-core";
import type { ReactNode } from "react";

import type { RefineProviders } from "../../src/refine";

// waitFor & co. poll until this long: never depend on the machine's speed.
configure({ asyncUtilTimeout: 30_000 });

function quietQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: { queries: { retry: false, gcTime: Infinity }, mutations: { retry: false } },
  });
}

/** A wrapper rendering children inside react-admin's CoreAdminContext. */
export function reactAdminWrapper(providers: { dataProvider: RaDataProvider; authProvider?: RaAuthProvider }) {
  const queryClient = quietQueryClient();
  const store = memoryStore();
  return ({ children }: { children: ReactNode }) => (
    <TestMemoryRouter>
      <CoreAdminContext
        dataProvider={providers.dataProvider}
        authProvider={providers.authProvider}
        queryClient={queryClient}
        store={store}
      >
        {children}
      </CoreAdminContext>
    </TestMemoryRouter>
  );
}

/** A wrapper rendering children inside <Refine> (telemetry off: tests stay local). */
export function refineWrapper(
  providers: Pick<RefineProviders, "dataProvider" | "authProvider" | "accessControlProvider"> &
    Partial<Pick<RefineProviders, "liveProvider">>,
) {
  const queryClient = quietQueryClient();
  return ({ children }: { children: ReactNode }) => (
    <Refine
      dataProvider={providers.dataProvider}
      authProvider={providers.authProvider}
      accessControlProvider={providers.accessControlProvider}
      liveProvider={providers.liveProvider}
      resources={[{ name: "users" }, { name: "items" }, { name: "sessions" }]}
      options={{ disableTelemetry: true, reactQuery: { clientConfig: queryClient } }}
    >
      {children}
    </Refine>
  );
}
