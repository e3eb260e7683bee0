// @vitest-environment node
/**
 * An app that depends on the kit as the README says: `file:` on a checkout (here a
 * copy of package.json and src/, with no node_modules of its own), the framework
 * packages installed beside it, and the tsconfig.json of the README's "TypeScript
 * settings". It imports every entry point, type-checks with `tsc --noEmit` and
 * bundles with Vite. Offline: its node_modules links the packages `npm ci`
 * installed for the kit (Vite among them, as Vitest's own).
 */

import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { afterAll, beforeAll, expect, test } from "vitest";

// (a string, not `new URL(...)`: happy-dom replaces the global URL class)
const clientsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const installed = join(clientsDir, "node_modules");

/** What the app installs (README): the frameworks, React, TypeScript and Vite. */
const APP_DEPENDENCIES = ["@refinedev/core", "ra-core", "react", "react-dom", "@types/react", "@types/react-dom", "typescript", "vite"];

const APP_SOURCE = `
import type { DataProvider as RefineDataProvider } from "@refinedev/core";
import type { AuthProvider, DataProvider } from "ra-core";
import { ApiError, createApiClient, type ResourceConfig, sharedSession } from "sqlmodel-api-clients";
import { type ItemPublic, itemsList, type UserPublic, usersMeRead } from "sqlmodel-api-clients/generated";
import { type Client, createClient } from "sqlmodel-api-clients/generated/client";
import { authProvider, createReactAdminProviders, dataProvider } from "sqlmodel-api-clients/react-admin";
import { createRefineProviders } from "sqlmodel-api-clients/refine";

const apiUrl = "http://localhost:8000/api/v1";

export const raDataProvider: DataProvider = dataProvider(apiUrl);
export const raAuthProvider: AuthProvider = authProvider(apiUrl);
export const { session } = createReactAdminProviders({ baseUrl: "http://localhost:8000" });
export const refineDataProvider: RefineDataProvider = createRefineProviders({ baseUrl: apiUrl }).dataProvider;
export const projects: ResourceConfig = { path: "/projects", readOnlyFields: ["id", "createdAt"] };

const client: Client = createApiClient(sharedSession({ baseUrl: apiUrl }));
const anonymous: Client = createClient({ baseUrl: "http://localhost:8000" });

export async function whoAmI(): Promise<UserPublic> {
  return (await usersMeRead({ client, throwOnError: true })).data;
}

export const wrongPassword = (error: unknown): boolean => error instanceof ApiError && error.code === "LOGIN_BAD_CREDENTIALS";

export async function titles(): Promise<string[]> {
  const { data } = await itemsList({ client: anonymous, query: { limit: 10 }, throwOnError: true });
  return data.items.map((item: ItemPublic) => item.title);
}
`;

let root = "";

/** The tsconfig.json block under "### TypeScript settings" in clients/README.md. */
function documentedTsconfig(): string {
  const readme = readFileSync(join(clientsDir, "README.md"), "utf8");
  const block = /^### TypeScript settings$[\s\S]*?^```jsonc?\n([\s\S]*?)^```$/m.exec(readme);
  if (!block?.[1]) throw new Error('clients/README.md has no tsconfig.json block under "### TypeScript settings"');
  return block[1];
}

/** `names` and all they depend on, as `npm ci` installed them (hoisted) for the kit. */
function withDependencies(names: string[]): Set<string> {
  const found = new Set<string>();
  const queue = [...names];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    const manifest = join(installed, name, "package.json");
    if (found.has(name) || !existsSync(manifest)) continue;
    found.add(name);
    const needs = JSON.parse(readFileSync(manifest, "utf8")) as Record<string, Record<string, string> | undefined>;
    for (const kind of ["dependencies", "optionalDependencies", "peerDependencies"]) {
      queue.push(...Object.keys(needs[kind] ?? {}));
    }
  }
  return found;
}

function link(target: string, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync(target, path, "dir");
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "sqlmodel-api-consumer-"));
  const kit = join(root, "sqlmodel-api", "clients");
  cpSync(join(clientsDir, "package.json"), join(kit, "package.json"));
  cpSync(join(clientsDir, "src"), join(kit, "src"), { recursive: true });

  const app = join(root, "admin");
  const dependencies = Object.fromEntries(APP_DEPENDENCIES.map((name) => [name, "*"]));
  mkdirSync(join(app, "src"), { recursive: true });
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "admin", private: true, type: "module", dependencies: { ...dependencies, "sqlmodel-api-clients": "file:../sqlmodel-api/clients" } }),
  );
  // What `npm install` makes: the `file:` dependency as a link, the rest as packages.
  link(kit, join(app, "node_modules", "sqlmodel-api-clients"));
  for (const name of withDependencies(APP_DEPENDENCIES)) link(join(installed, name), join(app, "node_modules", name));
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

/** Runs a package's command in the app: its output, and whether it succeeded. */
async function run(script: string, args: string[]): Promise<{ ok: boolean; output: string }> {
  const app = join(root, "admin");
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(app, "node_modules", script), ...args], {
      cwd: app,
    });
    return { ok: true, output: `${stdout}${stderr}` };
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${stdout}${stderr}` };
  }
}

/** `tsc --noEmit` in the app, with `source` as its src/main.ts and the given tsconfig.json. */
function typecheck(source: string, tsconfig = documentedTsconfig()) {
  writeFileSync(join(root, "admin", "src", "main.ts"), source);
  writeFileSync(join(root, "admin", "tsconfig.json"), tsconfig);
  return run("typescript/bin/tsc", ["--noEmit"]);
}

test("an app with the documented settings imports every entry point and type-checks", async () => {
  const { ok, output } = await typecheck(APP_SOURCE);
  expect(output).toBe("");
  expect(ok).toBe(true);
});

test("the check is real: a wrong type in the app fails it", async () => {
  const { ok, output } = await typecheck(`${APP_SOURCE}\nexport const emailOf = (user: UserPublic): number => user.email;\n`);
  expect(ok).toBe(false);
  expect(output).toMatch(/src\/main\.ts\(\d+,\d+\): error TS2322: Type 'string' is not assignable to type 'number'/);
});

test.each([
  ["DOM.Iterable", (tsconfig: string) => tsconfig.replace(/,\s*"DOM\.Iterable"/, ""), /Property 'entries' does not exist on type 'URLSearchParams'/],
  ["preserveSymlinks", (tsconfig: string) => tsconfig.replace(/"preserveSymlinks": true,/, ""), /Cannot find module 'ra-core'/],
])("the README's %s is needed: without it the app fails the check", async (_setting, without, failure) => {
  const tsconfig = without(documentedTsconfig());
  expect(tsconfig).not.toBe(documentedTsconfig());
  const { ok, output } = await typecheck(APP_SOURCE, tsconfig);
  expect(ok).toBe(false);
  expect(output).toMatch(failure);
});

test("Vite bundles the app with the README's resolve.preserveSymlinks", async () => {
  writeFileSync(join(root, "admin", "src", "main.ts"), APP_SOURCE);
  writeFileSync(join(root, "admin", "index.html"), '<script type="module" src="/src/main.ts"></script>');
  writeFileSync(join(root, "admin", "vite.config.mjs"), "export default { resolve: { preserveSymlinks: true } };");
  const { ok, output } = await run("vite/bin/vite.js", ["build", "--logLevel", "error"]);
  expect(output).toBe("");
  expect(ok).toBe(true);
  const assets = join(root, "admin", "dist", "assets");
  const bundle = readdirSync(assets).map((name) => readFileSync(join(assets, name), "utf8")).join("");
  expect(bundle).toContain("/auth/refresh"); // the kit's session is in it
});
