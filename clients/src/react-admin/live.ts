/**
 * Live updates for react-admin, in the shape of react-admin's (enterprise) realtime
 * data provider: the data provider has `subscribe(topic, callback)` and
 * `unsubscribe(topic, callback)`, topics `resource/<name>` and `resource/<name>/<id>`,
 * events `{topic, type, payload: {ids, record?}, date}`; a resync (changes were
 * missed) comes as type `"resync"`. `useLiveRefresh("items")` refreshes the views
 * when an item changes. All subscriptions of a session share one stream.
 */

import { useEffect } from "react";
import { useDataProvider, useRefresh } from "ra-core";

import { type LiveChange, liveUpdates } from "../core/live";
import type { ApiSession } from "../core/session";

export interface RealtimeEvent {
  topic: string;
  type: LiveChange["type"] | "resync";
  payload: { ids: string[]; record?: LiveChange["record"] };
  date: Date;
}

export type RealtimeCallback = (event: RealtimeEvent) => void;

/** What the data provider adds for live updates. */
export interface RealtimeMethods {
  subscribe: (topic: string, callback: RealtimeCallback) => Promise<{ data: null }>;
  unsubscribe: (topic: string, callback: RealtimeCallback) => Promise<{ data: null }>;
}

function concerns(topic: string, change: LiveChange): boolean {
  return topic === `resource/${change.resource}` || topic === `resource/${change.resource}/${change.id}`;
}

/** `subscribe` and `unsubscribe` on the live updates of `session`. */
export function realtimeMethods(session: ApiSession): RealtimeMethods {
  const stops = new Map<RealtimeCallback, Map<string, () => void>>();
  const done = Promise.resolve({ data: null });
  return {
    subscribe: (topic, callback) => {
      const event = (type: RealtimeEvent["type"], payload: RealtimeEvent["payload"]): RealtimeEvent => ({
        topic,
        type,
        payload,
        date: new Date(),
      });
      const stop = liveUpdates(session).subscribe({
        onChange: (change) => {
          if (concerns(topic, change)) callback(event(change.type, { ids: [change.id], record: change.record }));
        },
        onResync: () => callback(event("resync", { ids: [] })),
      });
      const topics = stops.get(callback) ?? new Map<string, () => void>();
      topics.get(topic)?.();
      stops.set(callback, topics.set(topic, stop));
      return done;
    },
    unsubscribe: (topic, callback) => {
      stops.get(callback)?.get(topic)?.();
      stops.get(callback)?.delete(topic);
      return done;
    },
  };
}

/** Refresh react-admin's views whenever a row of `resource` changes (or a resync is due). */
export function useLiveRefresh(resource: string): void {
  const dataProvider = useDataProvider<ReturnType<typeof useDataProvider> & RealtimeMethods>();
  const refresh = useRefresh();
  useEffect(() => {
    const topic = `resource/${resource}`;
    const callback = () => refresh();
    void dataProvider.subscribe(topic, callback);
    return () => void dataProvider.unsubscribe(topic, callback);
  }, [dataProvider, refresh, resource]);
}
