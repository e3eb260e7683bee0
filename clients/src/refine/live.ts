/**
 * Refine's `liveProvider` on the API's live updates (`GET /live`):
 *
 *     const { liveProvider } = createRefineProviders({ baseUrl });
 *     <Refine liveProvider={liveProvider} options={{ liveMode: "auto" }} ...>
 *
 * Channels are Refine's `resources/<name>`; a subscription of `useOne`/`useMany`
 * hears only its ids. Events are `{type, payload: {ids: [id], record?}}`; a resync
 * (changes were missed) comes as type `"*"`, which Refine answers by refetching. All
 * subscriptions of a session share one stream.
 */

import type { LiveEvent, LiveProvider } from "@refinedev/core";

import { type LiveChange, type LiveOptions, liveUpdates } from "../core/live";
import type { ApiSession } from "../core/session";

const CHANNEL_PREFIX = "resources/";

type Subscribe = LiveProvider["subscribe"];
type SubscribeOptions = Parameters<Subscribe>[0];

function wanted(options: SubscribeOptions, change: LiveChange): boolean {
  const { channel, types, params } = options;
  if (channel !== `${CHANNEL_PREFIX}${change.resource}`) return false;
  if (!types.includes("*") && !types.includes(change.type)) return false;
  const ids = params?.ids ?? (params?.id !== undefined ? [params.id] : undefined);
  return ids === undefined || ids.map(String).includes(change.id);
}

/** A Refine `LiveProvider` for `session`. */
export function createLiveProvider(session: ApiSession, options: LiveOptions = {}): LiveProvider {
  const updates = liveUpdates(session, options);
  return {
    subscribe: (subscription: SubscribeOptions): (() => void) => {
      const event = (type: string, payload: LiveEvent["payload"]): LiveEvent => ({
        channel: subscription.channel,
        type,
        payload,
        date: new Date(),
      });
      return updates.subscribe({
        onChange: (change) => {
          if (!wanted(subscription, change)) return;
          subscription.callback(event(change.type, { ids: [change.id], record: change.record }));
        },
        onResync: () => subscription.callback(event("*", {})),
      });
    },
    unsubscribe: (stop: () => void) => stop(),
    // Every change reaches every allowed subscriber from the API itself, this tab's too:
    // nothing is published from the browser.
    publish: () => undefined,
  };
}
