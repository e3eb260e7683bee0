// @vitest-environment node
/** The committed generated client is what `npm run generate` makes from the committed openapi.json. */

import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { expect, test } from "vitest";

// (a string, not `new URL(...)`: happy-dom replaces the global URL class)
const clientsDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function files(root: string, folder = root): Map<string, string> {
  const found = new Map<string, string>();
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) files(root, path).forEach((text, key) => found.set(key, text));
    else found.set(relative(root, path), readFileSync(path, "utf8"));
  }
  return found;
}

test("src/generated is up to date with openapi.json (else: npm run generate)", async () => {
  const folder = mkdtempSync(join(tmpdir(), "sqlmodel-api-generated-"));
  try {
    await promisify(execFile)(
      join(clientsDir, "node_modules", ".bin", "openapi-ts"),
      ["-i", "openapi.json", "-o", join(folder, "generated"), "-c", "@hey-api/client-fetch", "--no-log-file", "-s"],
      { cwd: clientsDir },
    );
    const fresh = files(join(folder, "generated"));
    const committed = files(join(clientsDir, "src", "generated"));
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [name, text] of fresh) expect(committed.get(name), name).toBe(text);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
