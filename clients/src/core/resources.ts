/**
 * The API's resources and the CRUD operations on them, shared by the react-admin
 * and Refine data providers (which only translate parameters and errors).
 *
 * Every list endpoint of the API behaves alike: `offset`, `limit` (1..100),
 * `sort` (`field` or `-field`, from an allow-list), `q`, resource filters, and a
 * `{items, total, offset, limit}` page. A resource that is not configured is
 * taken to follow that convention at `/<name>`, so a new router copied from
 * `app/items.py` needs no client change.
 */

import { ApiError, isApiError } from "./errors";
import { splitFiles, uploadFiles } from "./files";
import type { ApiSession, QueryParams } from "./session";

/** What can be done on a resource. */
export type Operation = "list" | "read" | "create" | "update" | "delete";

export interface ResourceConfig {
  /** Path under the API prefix. Default `/<resource name>`. */
  path?: string;
  /**
   * `true` (default): the list answers a page `{items, total, offset, limit}`.
   * `false`: it answers a plain array, paged, sorted and filtered here.
   */
  paged?: boolean;
  /** Allowed operations. Default: all. Others reject with an `ApiError` (status 405). */
  operations?: readonly Operation[];
  /** Fields never sent in create/update bodies. Default `id`, `createdAt`, `updatedAt`. */
  readOnlyFields?: readonly string[];
  /**
   * Sort fields to replace by the API's default sort (`-createdAt`) instead of
   * sending them. Default `["id"]`: react-admin sorts by `id` unless told
   * otherwise, and ids are random UUIDs the API does not sort by.
   */
  defaultSortFields?: readonly string[];
  /** Only for `paged: false`: fields that `q` searches (case-insensitive substring). */
  searchFields?: readonly string[];
  /** Only for `paged: false`: the sort when none (or a default sort field) is asked. */
  defaultSort?: SortSpec;
  /** Readable singular name for messages. Default: the resource name. */
  label?: string;
  /**
   * `true`: rows take files (`<path>/<id>/files`, as items do). File values in a
   * create or update (see `core/files.ts`) are uploaded there once the row is
   * written, instead of being sent as JSON. Default `false`.
   */
  files?: boolean;
}

export type ResourceMap = Record<string, ResourceConfig>;

/** The resources of the API as shipped. Extend with `resources` in the provider options. */
export const DEFAULT_RESOURCES: ResourceMap = {
  users: { path: "/users", label: "user", readOnlyFields: ["id", "createdAt", "updatedAt"] },
  items: { path: "/items", label: "item", readOnlyFields: ["id", "createdAt", "updatedAt", "ownerId"], files: true },
  sessions: {
    path: "/auth/sessions",
    label: "session",
    paged: false,
    operations: ["list", "read", "delete"],
    readOnlyFields: ["id", "createdAt", "lastUsedAt", "expiresAt", "current"],
    searchFields: ["userAgent", "ipAddress"],
  },
};

/** Largest `limit` the API accepts; longer ranges are fetched in several pages. */
export const MAX_PAGE_SIZE = 100;
/** How many single-row requests (bulk update/delete, getMany fallback) run at once. */
const CONCURRENCY = 4;

export interface SortSpec {
  field: string;
  order: "asc" | "desc" | "ASC" | "DESC";
}

export interface ListRequest {
  /** Rows to skip. */
  offset: number;
  /** Rows wanted; `Infinity` for all of them (fetched 100 at a time). */
  limit: number;
  sort?: SortSpec | undefined;
  /** Query filters: `q`, `role`, `isActive`, `ownerId`, `id` (array → repeated `id=`), ... */
  filter?: QueryParams | undefined;
  signal?: AbortSignal | undefined;
}

export interface Row {
  id: string;
  [field: string]: unknown;
}

export interface ListResult<T extends Row = Row> {
  rows: T[];
  total: number;
}

interface Page<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

/** Runs `task` on every element, `CONCURRENCY` at a time, settling all of them. */
async function settleAll<A, R>(
  inputs: readonly A[],
  task: (input: A) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(inputs.length);
  let next = 0;
  const worker = async () => {
    while (next < inputs.length) {
      const index = next++;
      try {
        results[index] = { status: "fulfilled", value: await task(inputs[index] as A) };
      } catch (reason) {
        results[index] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, inputs.length) }, worker));
  return results;
}

const isBlank = (value: unknown) => value === undefined || value === null || value === "";

/** Whether a form value leaves the record unchanged (a blank input over a missing value does). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b || (isBlank(a) && isBlank(b))) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1; // missing values last, like the API
  if (b === undefined || b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

export class Resources {
  readonly session: ApiSession;
  private readonly config: ResourceMap;

  constructor(session: ApiSession, resources: ResourceMap = {}) {
    this.session = session;
    this.config = { ...DEFAULT_RESOURCES, ...resources };
  }

  /** The configuration of `resource`, filled with the defaults. */
  resource(resource: string): Required<Omit<ResourceConfig, "defaultSort">> & Pick<ResourceConfig, "defaultSort"> {
    const config = this.config[resource] ?? {};
    return {
      path: config.path ?? `/${resource}`,
      paged: config.paged ?? true,
      operations: config.operations ?? ["list", "read", "create", "update", "delete"],
      readOnlyFields: config.readOnlyFields ?? ["id", "createdAt", "updatedAt"],
      defaultSortFields: config.defaultSortFields ?? ["id"],
      searchFields: config.searchFields ?? [],
      defaultSort: config.defaultSort,
      label: config.label ?? resource,
      files: config.files ?? false,
    };
  }

  /** Rejects when `operation` is not supported on `resource`. */
  assertAllowed(resource: string, operation: Operation, method: string): void {
    const { operations } = this.resource(resource);
    if (!operations.includes(operation)) {
      throw new ApiError(
        `The "${resource}" resource does not support ${method} (it allows: ${operations.join(", ")})`,
        { status: 405, code: "OPERATION_NOT_SUPPORTED" },
      );
    }
  }

  private itemPath(resource: string, id: string | number): string {
    return `${this.resource(resource).path}/${encodeURIComponent(String(id))}`;
  }

  /** The `sort` query value, or `undefined` for the API's default. */
  sortParam(resource: string, sort: SortSpec | undefined): string | undefined {
    if (!sort?.field || this.resource(resource).defaultSortFields.includes(sort.field)) return undefined;
    return sort.order.toLowerCase() === "desc" ? `-${sort.field}` : sort.field;
  }

  /** The files of a row's form (uploaded apart), for a resource that takes files. */
  private withoutFiles(resource: string, data: Record<string, unknown>): { fields: Record<string, unknown>; files: Blob[] } {
    return this.resource(resource).files ? splitFiles(data) : { fields: data, files: [] };
  }

  /** Drops read-only fields and `undefined` values from a request body. */
  writable(resource: string, data: Record<string, unknown>): Record<string, unknown> {
    const readOnly = this.resource(resource).readOnlyFields;
    return Object.fromEntries(
      Object.entries(data).filter(([key, value]) => value !== undefined && !readOnly.includes(key)),
    );
  }

  // --- reads -----------------------------------------------------------------------

  /** One range of rows and the total, whatever the page size limit of the API. */
  async list<T extends Row = Row>(resource: string, request: ListRequest): Promise<ListResult<T>> {
    this.assertAllowed(resource, "list", "list");
    const config = this.resource(resource);
    if (!config.paged) return this.listUnpaged<T>(resource, request);
    const { offset, limit, filter, signal } = request;
    const sort = this.sortParam(resource, request.sort);
    if (!(limit > 0)) {
      // Only the total is wanted; the API's smallest page is one row.
      const { data } = await this.session.request<Page<T>>({
        path: config.path,
        query: { ...filter, sort, offset, limit: 1 },
        signal,
      });
      return { rows: [], total: data.total };
    }
    const rows: T[] = [];
    let total = 0;
    for (;;) {
      const wanted = Math.min(MAX_PAGE_SIZE, limit - rows.length);
      const { data } = await this.session.request<Page<T>>({
        path: config.path,
        query: { ...filter, sort, offset: offset + rows.length, limit: wanted },
        signal,
      });
      rows.push(...data.items);
      total = data.total;
      const done =
        rows.length >= limit || data.items.length < wanted || offset + rows.length >= total;
      if (done) return { rows, total };
    }
  }

  /** A list endpoint answering a plain array: filtered, sorted and sliced here. */
  private async listUnpaged<T extends Row>(resource: string, request: ListRequest): Promise<ListResult<T>> {
    const config = this.resource(resource);
    const { data } = await this.session.request<T[]>({ path: config.path, signal: request.signal });
    let rows = data;
    for (const [key, value] of Object.entries(request.filter ?? {})) {
      if (value === undefined || value === null || value === "") continue;
      if (key === "q") {
        const needle = String(value).toLowerCase();
        rows = rows.filter((row) =>
          config.searchFields.some((field) => String(row[field] ?? "").toLowerCase().includes(needle)),
        );
      } else if (Array.isArray(value)) {
        const wanted = value.map(String);
        rows = rows.filter((row) => wanted.includes(String(row[key])));
      } else {
        rows = rows.filter((row) => String(row[key]) === String(value));
      }
    }
    const sort =
      request.sort?.field && !config.defaultSortFields.includes(request.sort.field)
        ? request.sort
        : config.defaultSort;
    if (sort) {
      const direction = sort.order.toLowerCase() === "desc" ? -1 : 1;
      rows = [...rows].sort((a, b) => direction * compare(a[sort.field], b[sort.field]));
    }
    const end = Number.isFinite(request.limit) ? request.offset + request.limit : undefined;
    return { rows: rows.slice(request.offset, end), total: rows.length };
  }

  /** One row by id; `ApiError` 404 when the caller may not see it. */
  async getOne<T extends Row = Row>(resource: string, id: string | number, signal?: AbortSignal): Promise<T> {
    this.assertAllowed(resource, "read", "getOne");
    const config = this.resource(resource);
    if (!config.paged) {
      const { rows } = await this.listUnpaged<T>(resource, { offset: 0, limit: Infinity, signal });
      const row = rows.find((candidate) => String(candidate.id) === String(id));
      if (!row) {
        const label = config.label.charAt(0).toUpperCase() + config.label.slice(1);
        throw new ApiError(`${label} not found`, { status: 404, code: "NOT_FOUND" });
      }
      return row;
    }
    const { data } = await this.session.request<T>({ path: this.itemPath(resource, id), signal });
    return data;
  }

  /**
   * The rows with these ids that the caller may see, in the order asked, through
   * the list's repeated `id` filter (100 ids a request). Should the API not know
   * that filter (it answers rows not asked for), each row is read on its own.
   */
  async getMany<T extends Row = Row>(
    resource: string,
    ids: readonly (string | number)[],
    signal?: AbortSignal,
  ): Promise<T[]> {
    this.assertAllowed(resource, "list", "getMany");
    const wanted = [...new Set(ids.map(String))];
    if (wanted.length === 0) return [];
    const config = this.resource(resource);
    const found = new Map<string, T>();
    if (!config.paged) {
      const { rows } = await this.listUnpaged<T>(resource, { offset: 0, limit: Infinity, filter: { id: wanted }, signal });
      rows.forEach((row) => found.set(String(row.id), row));
    } else {
      for (let start = 0; start < wanted.length; start += MAX_PAGE_SIZE) {
        const chunk = wanted.slice(start, start + MAX_PAGE_SIZE);
        const { data } = await this.session.request<Page<T>>({
          path: config.path,
          query: { id: chunk, limit: MAX_PAGE_SIZE },
          signal,
        });
        if (data.items.some((row) => !chunk.includes(String(row.id)))) {
          // The API ignored `id`: read each row instead (missing ones are left out).
          const results = await settleAll(chunk, (id) => this.getOne<T>(resource, id, signal));
          results.forEach((result) => {
            if (result.status === "fulfilled") found.set(String(result.value.id), result.value);
            else if (!(isApiError(result.reason) && result.reason.status === 404)) throw result.reason;
          });
        } else {
          data.items.forEach((row) => found.set(String(row.id), row));
        }
      }
    }
    return wanted.flatMap((id) => {
      const row = found.get(id);
      return row ? [row] : [];
    });
  }

  // --- writes ----------------------------------------------------------------------

  async create<T extends Row = Row>(resource: string, data: Record<string, unknown>): Promise<T> {
    this.assertAllowed(resource, "create", "create");
    const { fields, files } = this.withoutFiles(resource, data);
    const { data: row } = await this.session.request<T>({
      method: "POST",
      path: this.resource(resource).path,
      body: this.writable(resource, fields),
    });
    await uploadFiles(this.session, `${this.itemPath(resource, row.id)}/files`, files);
    return row;
  }

  /**
   * PATCH a row. With `previousData`, only the fields that changed are sent (so
   * a form that shows every field does not resend, say, an unchanged email, nor
   * an empty "new password" input the record never had).
   */
  async update<T extends Row = Row>(
    resource: string,
    id: string | number,
    data: Record<string, unknown>,
    previousData?: Record<string, unknown>,
  ): Promise<T> {
    this.assertAllowed(resource, "update", "update");
    const { fields, files } = this.withoutFiles(resource, data);
    await uploadFiles(this.session, `${this.itemPath(resource, id)}/files`, files);
    let body = this.writable(resource, fields);
    if (previousData) {
      body = Object.fromEntries(
        Object.entries(body).filter(([key, value]) => !sameValue(value, previousData[key])),
      );
    }
    const { data: row } = await this.session.request<T>({
      method: "PATCH",
      path: this.itemPath(resource, id),
      body,
    });
    return row;
  }

  async delete(resource: string, id: string | number): Promise<void> {
    this.assertAllowed(resource, "delete", "delete");
    await this.session.request<void>({ method: "DELETE", path: this.itemPath(resource, id) });
  }

  /** The same change on several rows (one PATCH each); resolves the rows updated. */
  async updateMany<T extends Row = Row>(
    resource: string,
    ids: readonly (string | number)[],
    data: Record<string, unknown>,
  ): Promise<T[]> {
    this.assertAllowed(resource, "update", "updateMany");
    const results = await settleAll(ids, (id) => this.update<T>(resource, id, data));
    return this.allOrError(resource, "updated", results);
  }

  /** Delete several rows (one DELETE each); resolves the ids deleted. */
  async deleteMany(resource: string, ids: readonly (string | number)[]): Promise<(string | number)[]> {
    this.assertAllowed(resource, "delete", "deleteMany");
    const results = await settleAll(ids, async (id) => {
      await this.delete(resource, id);
      return id;
    });
    return this.allOrError(resource, "deleted", results);
  }

  /** The values when every call succeeded, else one error telling how many failed and why. */
  private allOrError<R>(resource: string, verb: string, results: PromiseSettledResult<R>[]): R[] {
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failures.length === 0) return results.map((r) => (r as PromiseFulfilledResult<R>).value);
    const first = failures[0]!.reason as unknown;
    const reason = first instanceof Error ? first.message : String(first);
    const { label } = this.resource(resource);
    const message =
      results.length === 1
        ? reason
        : `${failures.length} of ${results.length} ${label} records could not be ${verb}: ${reason}`;
    throw new ApiError(message, {
      status: isApiError(first) ? first.status : 0,
      code: isApiError(first) ? first.code : undefined,
      body: isApiError(first) ? first.body : null,
      fieldErrors: isApiError(first) ? first.fieldErrors : {},
      cause: first,
    });
  }
}
