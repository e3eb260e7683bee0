/**
 * Who may open which admin screen, from the signed-in user's role. The API stays
 * the judge (a non-admin on `/users` gets 403); this only keeps the UI from
 * offering screens that would fail.
 */

import type { Role } from "../generated/types.gen";

export interface AccessOptions {
  /** Resources only admins may use. Default `["users"]`. */
  adminOnlyResources?: readonly string[];
}

export const DEFAULT_ADMIN_ONLY_RESOURCES: readonly string[] = ["users"];

/** Whether a user with `role` may do `action` (list, show, edit, delete, ...) on `resource`. */
export function canAccess(
  role: Role | null | undefined,
  resource: string,
  _action: string,
  options: AccessOptions = {},
): boolean {
  if (!role) return false;
  if (role === "ADMIN") return true;
  const adminOnly = options.adminOnlyResources ?? DEFAULT_ADMIN_ONLY_RESOURCES;
  return !adminOnly.includes(resource);
}
