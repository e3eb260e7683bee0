/**
 * Files in the providers' forms, against the live server: react-admin's `FileInput`
 * value `{rawFile: File}` and a Refine form's `File` (or Ant Design's
 * `{originFileObj: File}`) are uploaded to `/items/{itemId}/files` once the item is
 * written, and never sent in its JSON.
 */

import { describe, expect, test } from "vitest";

import { createReactAdminProviders } from "../src/react-admin";
import { createRefineProviders } from "../src/refine";
import { signedInAdmin, signedInAs } from "./support/api";

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(56).fill(0)]);

function png(name: string): File {
  return new File([PNG], name, { type: "image/png" });
}

interface StoredFile {
  filename: string;
  contentType: string;
  size: number;
}

async function filesOf(session: Awaited<ReturnType<typeof signedInAs>>["session"], itemId: string): Promise<StoredFile[]> {
  const { data } = await session.request<StoredFile[]>({ path: `/items/${itemId}/files` });
  return data;
}

describe("file fields", () => {
  test("react-admin: FileInput values are uploaded on create and update", async () => {
    const admin = await signedInAdmin();
    const owner = await signedInAs(admin.session);
    const { dataProvider } = createReactAdminProviders({ session: owner.session });

    const created = await dataProvider.create("items", {
      data: { title: "With a picture", attachments: [{ rawFile: png("first.png"), src: "blob:x", title: "first.png" }] },
    });
    const id = String(created.data.id);
    expect(created.data).toMatchObject({ title: "With a picture" });
    expect(created.data).not.toHaveProperty("attachments");

    await dataProvider.update("items", {
      id,
      data: { ...created.data, title: "Renamed", attachments: { rawFile: png("second.png") } },
      previousData: created.data,
    });

    const files = await filesOf(owner.session, id);
    expect(files.map((file) => [file.filename, file.contentType, file.size])).toEqual([
      ["first.png", "image/png", PNG.length],
      ["second.png", "image/png", PNG.length],
    ]);
  });

  test("Refine: File values (and Ant Design's originFileObj) are uploaded", async () => {
    const admin = await signedInAdmin();
    const owner = await signedInAs(admin.session);
    const { dataProvider } = createRefineProviders({ session: owner.session });

    const created = await dataProvider.create({
      resource: "items",
      variables: { title: "From Refine", file: png("refine.png") },
    });
    const id = String(created.data.id);
    await dataProvider.update({
      resource: "items",
      id,
      variables: { upload: [{ uid: "1", name: "antd.png", originFileObj: png("antd.png") }] },
    });

    const files = await filesOf(owner.session, id);
    expect(files.map((file) => file.filename)).toEqual(["refine.png", "antd.png"]);
  });

  test("a refused file rejects with the API's code", async () => {
    const admin = await signedInAdmin();
    const owner = await signedInAs(admin.session);
    const { dataProvider } = createRefineProviders({ session: owner.session });
    const page = new File(["<html><script>alert(1)</script></html>"], "page.png", { type: "image/png" });

    const refused = await dataProvider
      .create({ resource: "items", variables: { title: "Lying file", file: page } })
      .then(() => null, (error: unknown) => error);

    expect(refused).toMatchObject({ statusCode: 415, code: "ATTACHMENT_TYPE_NOT_ALLOWED" });
  });
});
