/**
 * The service as the pages reach it: the client generated from protos/ (clients/ts, protobuf-ts)
 * over the Twirp JSON door on this same origin, and the ShowEvents that LiveKit carries on the
 * room's data channel. No request is written by hand.
 */
import { RpcError, type RpcMetadata } from "@protobuf-ts/runtime-rpc";
import { TwirpFetchTransport } from "@protobuf-ts/twirp-transport";
import { ShowEvent } from "../../clients/ts/showrunner/v1/show_event";
import { ShowServiceClient } from "../../clients/ts/showrunner/v1/show_service.client";

export { ShowEvent } from "../../clients/ts/showrunner/v1/show_event";
export { RecordingLayout, Role, ShowState, type Ban, type RaisedHand, type Room as ShowRoom, type Stream } from "../../clients/ts/showrunner/v1/show_service";
export { EgressStatus } from "../../clients/ts/livekit_egress";
export type { ShowServiceClient } from "../../clients/ts/showrunner/v1/show_service.client";
export { TrackSource } from "../../clients/ts/livekit_models";

/** The one LiveKit data topic every ShowEvent travels on (service/core/events.py). */
export const EVENTS_TOPIC = "showrunner.events";

/** A client that calls as the holder of `token`, or anonymously (joining as a viewer). */
export function showService(token?: string): ShowServiceClient {
  const transport = new TwirpFetchTransport({
    baseUrl: new URL("/twirp", window.location.href).href,
    sendJson: true,
    meta: token ? { authorization: `Bearer ${token}` } : {},
  });
  return new ShowServiceClient(transport);
}

/** How far the service's clock is ahead of the browser's (ms; behind if negative), read as its
 * answer arrives: its Date header against the browser's clock now; 0 if it gave none. The header
 * is cut to the second, and uvicorn writes it anew once a second, so it lags the service's time by
 * up to about two seconds, a second on average, which is added back: what is measured by it (an
 * invitation's time left) is within about a second, where the browser's own clock may be off by
 * minutes. */
export function clockSkew(headers: RpcMetadata): number {
  const date = headers["date"];
  const at = typeof date === "string" ? Date.parse(date) : Number.NaN;
  return Number.isNaN(at) ? 0 : at + 1000 - Date.now();
}

/** What to tell the person when a call fails: the service's own message when it gave one. */
export function refusal(error: unknown): string {
  if (error instanceof RpcError) {
    // The service never answered (it is stopped, or the network is down): the transport names it
    // UNKNOWN, in capitals, where every Twirp code the service sends is in lower case; its
    // message is the browser's ("Failed to fetch").
    if (error.code === "UNKNOWN") return "The service could not be reached: check your connection, then try again.";
    // Something before the service answered (a proxy's 502), or the service failed.
    if (error.code === "internal" || !error.message) return "The service could not answer; try again in a moment.";
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

const text = new TextDecoder();

/** A ShowEvent from the data channel, or undefined for anything else sent on the topic. */
export function readShowEvent(payload: Uint8Array): ShowEvent | undefined {
  try {
    return ShowEvent.fromJsonString(text.decode(payload), { ignoreUnknownFields: true });
  } catch {
    return undefined;
  }
}

/** What a page whose address names no readable room says, and does instead of its work. */
export const UNREADABLE_ROOM = "This address names no show: the room name in it is broken (a link cut short, or mistyped). Check the link, or find the show from the home page.";

/** The room named by the page's path: /studio/<room> or /watch/<room>. A room name that cannot be
 * decoded (a broken percent-escape, as in /watch/abc%E0%A4) names no show: the page says so in its
 * notice, its form goes, and the page's script stops here, rather than leaving a blank page. */
export function roomFromPath(): string {
  const [, , room = ""] = window.location.pathname.split("/");
  try {
    return decodeURIComponent(room);
  } catch (error) {
    if (!(error instanceof URIError)) throw error;
    const notice = document.querySelector<HTMLElement>("#notice");
    if (notice) {
      notice.textContent = UNREADABLE_ROOM;
      notice.dataset["tone"] = "error";
    }
    document.querySelectorAll<HTMLFormElement>("main form").forEach((form) => (form.hidden = true));
    throw new Error(UNREADABLE_ROOM);
  }
}

/** Settings carried in the URL fragment (#name=…&admin=…), which never reaches a server. */
export function fragment(): URLSearchParams {
  return new URLSearchParams(window.location.hash.slice(1));
}

/** The page size a manager's lists use (#pageSize=20 in the fragment), or 0 for the service's own
 * (the first 1,000 hands or bans). */
export function pageSizeFrom(given: URLSearchParams): number {
  const size = Number(given.get("pageSize") ?? "0");
  return Number.isInteger(size) && size > 0 ? size : 0;
}
