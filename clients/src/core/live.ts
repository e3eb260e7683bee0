/**
 * Live updates: the API's `GET /live` stream (Server-Sent Events), read with the
 * session's `fetch`, so it signs in as every other request does: `Authorization`
 * in bearer mode (which `EventSource` cannot send), the cookies in cookie mode, and
 * a refresh on 401. One stream per session, shared by every listener, open while
 * one listens; after a drop it reconnects with `Last-Event-ID`, so nothing is missed
 * (or listeners hear `onResync` and read their lists again).
 */

import type { LiveEvent } from "../generated/types.gen";
import { apiErrorFrom, isApiError } from "./errors";
import type { ApiSession } from "./session";

/** A change to a row: `{type, resource, id, record}` (`record` absent when deleted). */
export type LiveChange = LiveEvent;

/** What a listener of live updates is told. */
export interface LiveListener {
  /** A row the signed-in user may see was created, updated or deleted. */
  onChange: (change: LiveChange) => void;
  /** Changes were missed (a long disconnect, or too many at once): read lists again. */
  onResync?: () => void;
  /** The stream was refused (401, 403, 429) or dropped; it is tried again unless 401/403. */
  onError?: (error: unknown) => void;
}

export interface LiveOptions {
  /** Wait before connecting again after a drop. Default 2000 ms. */
  retryMs?: number;
}

const STOPPING = new Set([401, 403]);

/** The live updates of one session: one stream, shared by its listeners. */
export class LiveUpdates {
  private readonly listeners = new Set<LiveListener>();
  private controller: AbortController | null = null;
  private lastEventId: string | null = null;
  private readonly session: ApiSession;
  private readonly retryMs: number;

  constructor(session: ApiSession, options: LiveOptions = {}) {
    this.session = session;
    this.retryMs = options.retryMs ?? 2000;
  }

  /** Listen to changes; returns what stops listening (the stream closes with the last). */
  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    if (this.controller === null) {
      this.controller = new AbortController();
      void this.run(this.controller.signal);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        this.controller?.abort();
        this.controller = null;
      }
    };
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.readOnce(signal);
      } catch (error) {
        if (signal.aborted) return;
        for (const listener of this.listeners) listener.onError?.(error);
        if (isApiError(error) && STOPPING.has(error.status)) return;
      }
      await new Promise((resolve) => setTimeout(resolve, this.retryMs));
    }
  }

  private async readOnce(signal: AbortSignal): Promise<void> {
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (this.lastEventId !== null) headers["Last-Event-ID"] = this.lastEventId;
    const token = await this.session.getAccessToken();
    if (token !== null) headers["Authorization"] = `Bearer ${token}`;
    const response = await this.session.fetch(this.session.url("/live"), { headers, signal });
    if (!response.ok || response.body === null) throw await apiErrorFrom(response);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop() ?? "";
      for (const block of blocks) this.dispatch(block);
    }
  }

  private dispatch(block: string): void {
    const fields: Record<string, string> = {};
    for (const line of block.split(/\r?\n/)) {
      if (line === "" || line.startsWith(":")) continue; // a heartbeat
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      fields[name] = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    }
    if (fields["id"] !== undefined) this.lastEventId = fields["id"];
    if (fields["event"] === "resync") {
      for (const listener of this.listeners) listener.onResync?.();
    } else if (fields["data"] !== undefined) {
      const change = JSON.parse(fields["data"]) as LiveChange;
      for (const listener of this.listeners) listener.onChange(change);
    }
  }
}

const shared = new WeakMap<ApiSession, LiveUpdates>();

/** The live updates of `session` (one per session, so providers share one stream). */
export function liveUpdates(session: ApiSession, options: LiveOptions = {}): LiveUpdates {
  let updates = shared.get(session);
  if (updates === undefined) {
    updates = new LiveUpdates(session, options);
    shared.set(session, updates);
  }
  return updates;
}
