// @vitest-environment node
/** The test server helper fails loudly, with the server's own words, when the API cannot start. */

import { expect, test } from "vitest";

import { startApi } from "./support/server";

test("a server that exits at start-up is an error that shows why", async () => {
  // Production refuses a short signing key: the process exits before serving.
  const failure = startApi({ env: { ENVIRONMENT: "production", JWT_SECRET_KEY: "too short" } });
  await expect(failure).rejects.toThrow(/The API exited \(\d+\) before answering \/health:[\s\S]*JWT_SECRET_KEY/);
});
