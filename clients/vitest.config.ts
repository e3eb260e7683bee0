import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    globalSetup: ["test/global-setup.ts"],
    setupFiles: ["test/support/setup.ts"],
    environment: "happy-dom",
    environmentOptions: {
      happyDOM: {
        url: "http://localhost:3000",
        settings: {
          // Node talks to the API directly here; CORS itself is tested on its own.
          fetch: { disableSameOriginPolicy: true },
          disableJavaScriptFileLoading: true,
          disableCSSFileLoading: true,
        },
      },
    },
    // The machine is shared and small: never depend on its speed.
    testTimeout: 60_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
    // One server for all files; files run one after the other to keep load low.
    fileParallelism: false,
    passWithNoTests: false,
    reporters: ["default", "./test/support/counting-reporter.ts"],
  },
});
