/**
 * Runs before each test file.
 *
 * - Tests may only talk to this machine: a stray request elsewhere (a library's
 *   telemetry, say) fails instead of leaving.
 * - happy-dom reports each non-2xx response on the console it was created with
 *   ("GET http://... 401 (Unauthorized)"), like a browser; many tests expect
 *   such answers, so those lines are left out of the output.
 */

import nodeConsole from "node:console";

const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
const realFetch = globalThis.fetch;

globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
  const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
  if (!LOCAL_HOSTS.has(url.hostname)) {
    return Promise.reject(new TypeError(`Test refused a request to ${url.origin}: tests stay on this machine`));
  }
  return realFetch(input, init);
}) as typeof fetch;

const BROWSER_NETWORK_LOG = /^(GET|POST|PUT|PATCH|DELETE|OPTIONS|HEAD) \S+ \d{3} \(/;
for (const target of new Set([console, nodeConsole])) {
  const error = target.error.bind(target);
  target.error = (...args: unknown[]) => {
    if (typeof args[0] === "string" && BROWSER_NETWORK_LOG.test(args[0])) return;
    error(...args);
  };
}
