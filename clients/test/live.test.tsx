/**
 * Live updates (`GET /live`) through the kit, against the real API: a change made
 * through the API by one session reaches another session's subscribers (the core
 * `liveUpdates`, Refine's `liveProvider` with `liveMode: "auto"`, react-admin's
 * `subscribe` and `useLiveRefresh`), and only the changes that session may see.
 */

import type { LiveEvent } from "@refinedev/core";
import { useList } from "@refinedev/core";
import { renderHook, waitFor } from "@testing-library/react";
import { useGetList } from "ra-core";
import { afterEach, describe, expect, test } from "vitest";

import { type LiveChange, liveUpdates } from "../src/core/live";
import type { ApiSession } from "../src/core/session";
import type { ItemPublic } from "../src/generated/types.gen";
import { createReactAdminProviders, type RealtimeEvent, useLiveRefresh } from "../src/react-admin";
import { createRefineProviders } from "../src/refine";
import { signedInAdmin, signedInAs, until } from "./support/api";
import { reactAdminWrapper, refineWrapper } from "./support/render";

const stops: Array<() => void> = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

async function createItem(session: ApiSession, title: string): Promise<ItemPublic> {
  return (await session.request<ItemPublic>({ method: "POST", path: "/items", body: { title } })).data;
}

describe("core liveUpdates", () => {
  test("the owner hears their item's changes, another user does not", async () => {
    const admin = (await signedInAdmin()).session;
    const owner = (await signedInAs(admin)).session;
    const other = (await signedInAs(admin)).session;
    const heard: LiveChange[] = [];
    const othersHeard: LiveChange[] = [];
    stops.push(liveUpdates(owner).subscribe({ onChange: (change) => heard.push(change) }));
    stops.push(liveUpdates(other).subscribe({ onChange: (change) => othersHeard.push(change) }));

    // The stream is open once a change made after subscribing arrives.
    await until(async () => {
      await createItem(owner, "probe");
      return heard.length > 0;
    });
    const item = await createItem(owner, "Seen live");
    await owner.request({ method: "PATCH", path: `/items/${item.id}`, body: { title: "Renamed" } });
    await until(() => heard.some((c) => c.id === item.id && c.type === "updated"));
    expect(heard.some((c) => c.id === item.id && c.type === "created")).toBe(true);
    // `record` is the row as it is when sent: after the update, its new title.
    expect(heard.findLast((c) => c.id === item.id)?.record).toMatchObject({ title: "Renamed" });

    const own: string[] = [];
    await until(async () => {
      own.push((await createItem(other, "Other's")).id);
      return othersHeard.length > 0;
    });
    expect(othersHeard.every((c) => own.includes(c.id))).toBe(true);
  });
});

describe("Refine liveProvider", () => {
  test("liveMode auto: a list follows an item another session creates", async () => {
    const admin = (await signedInAdmin()).session;
    const viewer = createRefineProviders({ session: admin });
    const wrapper = refineWrapper(viewer);
    const { result } = renderHook(
      () => useList({ resource: "items", pagination: { pageSize: 100 }, liveMode: "auto" }),
      { wrapper },
    );
    await waitFor(() => expect(result.current.query.isSuccess).toBe(true));

    const writer = (await signedInAs(admin)).session;
    const item = await createItem(writer, "Created elsewhere");
    await waitFor(() => expect(result.current.result.data.map((row) => row.id)).toContain(item.id));
  });

  test("subscribe filters by channel, type and ids; unsubscribe stops it", async () => {
    const admin = (await signedInAdmin()).session;
    const { liveProvider } = createRefineProviders({ session: admin });
    const events: LiveEvent[] = [];
    const item = await createItem(admin, "Watched");
    const subscription = liveProvider.subscribe({
      channel: "resources/items",
      types: ["updated"],
      params: { ids: [item.id], subscriptionType: "useMany" },
      callback: (event) => events.push(event),
    });
    stops.push(() => liveProvider.unsubscribe(subscription));
    await until(async () => {
      await admin.request({ method: "PATCH", path: `/items/${item.id}`, body: { title: `t${Date.now()}` } });
      return events.length > 0;
    });
    // Another item's creation, then a change to the watched one: by the time the
    // second arrives, the first would have (the stream keeps the order).
    const before = events.length;
    await createItem(admin, "Not watched");
    await admin.request({ method: "PATCH", path: `/items/${item.id}`, body: { title: "Last" } });
    await until(() => events.length > before);
    expect(events.every((e) => e.type === "updated" && e.payload.ids?.[0] === item.id)).toBe(true);
    expect(events[0]?.channel).toBe("resources/items");
  });
});

describe("react-admin realtime", () => {
  test("dataProvider.subscribe hears a change, useLiveRefresh refreshes a list", async () => {
    const admin = (await signedInAdmin()).session;
    const providers = createReactAdminProviders({ session: admin });
    const heard: RealtimeEvent[] = [];
    const callback = (event: RealtimeEvent) => heard.push(event);
    await providers.dataProvider.subscribe("resource/items", callback);
    stops.push(() => void providers.dataProvider.unsubscribe("resource/items", callback));

    const wrapper = reactAdminWrapper(providers);
    const { result } = renderHook(
      () => {
        useLiveRefresh("items");
        return useGetList("items", { pagination: { page: 1, perPage: 100 } });
      },
      { wrapper },
    );
    await waitFor(() => expect(result.current.isSuccess).toBe(true));
    const writer = (await signedInAs(admin)).session;
    const item = await createItem(writer, "Refreshed live");
    await until(() => heard.some((e) => e.payload.ids[0] === item.id));
    expect(heard.find((e) => e.payload.ids[0] === item.id)).toMatchObject({ topic: "resource/items", type: "created" });
    await waitFor(() => expect(result.current.data?.map((row) => row.id)).toContain(item.id));
  });
});
