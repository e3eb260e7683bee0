/**
 * Vitest global setup: one API server for the whole run (see support/server.ts),
 * its address handed to the tests with `inject("api")`.
 */

import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";

import type { TestProject } from "vitest/node";

import { startApi } from "./support/server";

export interface ProvidedApi {
  baseUrl: string;
  adminEmail: string;
  adminPassword: string;
  jwtSecret: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    api: ProvidedApi;
  }
}

export default async function setup(project: TestProject) {
  const api = await startApi();
  const stopOnSignal = () => {
    void api.stop().finally(() => process.exit(130));
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  project.provide("api", {
    baseUrl: api.baseUrl,
    adminEmail: api.adminEmail,
    adminPassword: api.adminPassword,
    jwtSecret: api.jwtSecret,
  });

  // The committed document should be the one the API serves; say so loudly when not.
  const served: unknown = await (await fetch(`${api.baseUrl}/api/v1/openapi.json`)).json();
  const committed: unknown = JSON.parse(readFileSync(new URL("../openapi.json", import.meta.url), "utf8"));
  if (!isDeepStrictEqual(served, committed)) {
    console.warn(
      "\n*** clients/openapi.json differs from the document the API serves: run `make client` " +
        "(or `npm run regenerate` in clients/) and commit the result. ***\n",
    );
  }

  return async () => {
    process.off("SIGINT", stopOnSignal);
    process.off("SIGTERM", stopOnSignal);
    await api.stop();
  };
}
