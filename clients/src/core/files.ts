/**
 * Files in a create or update form: the API takes them apart from the row's JSON,
 * one `multipart/form-data` upload each to `POST <path>/<id>/files` (items:
 * `/items/{itemId}/files`), once the row exists.
 *
 * A file field's value may be a `File`/`Blob`, react-admin's `FileInput` value
 * `{rawFile: File}`, Ant Design's (Refine) `{originFileObj: File}`, or an array of
 * those; files already uploaded (plain records) are left out of the JSON body.
 */

import type { ApiSession } from "./session";

function asBlob(value: unknown): Blob | undefined {
  if (typeof Blob === "undefined" || value === null || typeof value !== "object") return undefined;
  if (value instanceof Blob) return value;
  for (const key of ["rawFile", "originFileObj"]) {
    const inner = (value as Record<string, unknown>)[key];
    if (inner instanceof Blob) return inner;
  }
  return undefined;
}

/** The row's fields without its files, and the new files to upload. */
export function splitFiles(data: Record<string, unknown>): { fields: Record<string, unknown>; files: Blob[] } {
  const fields: Record<string, unknown> = {};
  const files: Blob[] = [];
  for (const [key, value] of Object.entries(data)) {
    const found = (Array.isArray(value) ? value : [value]).map(asBlob).filter((blob) => blob !== undefined);
    if (found.length > 0) files.push(...found);
    else fields[key] = value;
  }
  return { fields, files };
}

/** Upload `files` one after the other to `path`; resolves what the API answered for each. */
export async function uploadFiles<T = unknown>(session: ApiSession, path: string, files: readonly Blob[]): Promise<T[]> {
  const uploaded: T[] = [];
  for (const file of files) {
    const form = new FormData();
    const name = "name" in file && typeof file.name === "string" && file.name ? file.name : "file";
    form.append("file", file, name);
    const { data } = await session.request<T>({ method: "POST", path, form });
    uploaded.push(data);
  }
  return uploaded;
}
