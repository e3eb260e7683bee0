/**
 * Framework-neutral part of the kit: the session (tokens, refresh, authenticated
 * fetch), error mapping, the shared resource operations and the generated client.
 * The admin-framework providers live in `./react-admin` and `./refine`.
 */
export * from "./core";
