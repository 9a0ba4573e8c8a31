/**
 * What both pages need from LiveKit: the room, each participant's part in the show (the `role`
 * attribute only Showrunner sets), and what a disconnection means. Raised hands are not
 * attributes (LiveKit would send each change to the whole audience): the host and the moderators
 * learn of them from ShowEvents and the hand queue, the viewer from its own calls.
 *
 * ShowEvents are reliable only while the page is connected: one sent while its connection was
 * reconnecting, or while the tab slept in the background, never reaches it. So a page that comes
 * back (onReturn) reads again from the service what it shows, as it does on load, rather than
 * waiting for the next event.
 */
import { ConnectionError, ConnectionErrorReason, DisconnectReason, type LocalParticipant, type Participant, Room, RoomEvent, type RemoteParticipant, Track } from "livekit-client";
import { EVENTS_TOPIC, readShowEvent, type ShowEvent, TrackSource } from "./api";
import { Coalesced } from "./components/coalesced";

export type Part = "host" | "guest" | "moderator" | "viewer";

export function partOf(participant: Participant): Part {
  const role = participant.attributes["role"];
  return role === "host" || role === "guest" || role === "moderator" ? role : "viewer";
}

/** The host and the guests are on stage; moderators watch with the audience. */
export function onStage(participant: Participant): boolean {
  const part = partOf(participant);
  return part === "host" || part === "guest";
}

export function displayName(participant: Participant): string {
  return participant.name || participant.identity;
}

/** A guest's microphone and camera as the pages name them, with LiveKit's source on each side:
 * livekit-client's for the participant's tracks, the contract's (LiveKit's wire enum) for calls
 * and for the participant's permission. */
export const GUEST_SOURCES = [
  { source: Track.Source.Microphone, wire: TrackSource.MICROPHONE, name: "microphone", short: "mic", title: "Mic" },
  { source: Track.Source.Camera, wire: TrackSource.CAMERA, name: "camera", short: "camera", title: "Camera" },
] as const;

export type GuestSource = (typeof GUEST_SOURCES)[number];

/** Turns this participant's own `source` on (publishing it if it is not yet) or off (muting the
 * published track, which LiveKit then shows muted). */
export function enableSource(local: LocalParticipant, source: GuestSource, on: boolean): Promise<unknown> {
  return source.source === Track.Source.Camera ? local.setCameraEnabled(on) : local.setMicrophoneEnabled(on);
}

/** Whether `permission` publishes `source`: it may publish, and lists the source or no sources
 * at all (LiveKit's "any"). */
export function publishes(permission: Participant["permissions"], source: GuestSource): boolean {
  if (!permission?.canPublish) return false;
  const sources = permission.canPublishSources.map(Number);
  return sources.length === 0 || sources.includes(source.wire);
}

/** Whether the host took `source` from a participant on stage: LiveKit lets it publish, but not
 * that source (MuteGuestTrack's lock). A permission the page has not heard of takes nothing. */
export function takenAway(participant: Participant, source: GuestSource): boolean {
  const permission = participant.permissions;
  return !!permission?.canPublish && !publishes(permission, source);
}

export function remotes(room: Room): RemoteParticipant[] {
  return [...room.remoteParticipants.values()];
}

/** Connects `room` to LiveKit, or fails in the show's words: livekit-client's own speak of signal
 * connections and websockets, which the console keeps. */
export async function connect(room: Room, wsUrl: string, token: string): Promise<void> {
  try {
    await room.connect(wsUrl, token);
  } catch (error) {
    if (!(error instanceof ConnectionError)) throw error;
    console.warn("LiveKit connection failed:", error);
    throw new Error(
      error.reason === ConnectionErrorReason.NotAllowed
        ? `The show's video server refused this connection (${error.message}).`
        : "The show's video server could not be reached; try again in a moment.",
    );
  }
}

/** Why the connection ended, in the show's words. */
export function farewell(reason: DisconnectReason | undefined): string {
  switch (reason) {
    case DisconnectReason.ROOM_DELETED:
      return "The show has ended.";
    case DisconnectReason.PARTICIPANT_REMOVED:
      // By the host, a moderator or the room's admin: the page cannot tell which.
      return "You were removed from the show.";
    case DisconnectReason.DUPLICATE_IDENTITY:
      return "You joined this show from another tab; this one is disconnected.";
    default:
      return "You are disconnected from the show.";
  }
}

/** The least time between two calls of a page's `changed` for arrivals and departures (showRoom). */
const CROWD_PACE_MS = 200;

/**
 * A room whose every change calls `changed`, and whose ShowEvents (the service's) go to `onEvent`.
 * LiveKit tells every page of each participant who arrives or leaves, thousands within seconds as
 * a show opens or ends, and each call redraws the page (the stage, and a manager's audience), so
 * those call it at once only when it last ran CROWD_PACE_MS ago or more; otherwise once that time
 * is up, for all that came meanwhile. Every other change calls it at once.
 */
export function showRoom(changed: () => void, onEvent: (event: ShowEvent) => void): Room {
  const room = new Room({ adaptiveStream: true, dynacast: true });
  const crowd = new Coalesced(async () => changed(), CROWD_PACE_MS);
  room.on(RoomEvent.ParticipantConnected, () => void crowd.ask());
  room.on(RoomEvent.ParticipantDisconnected, () => void crowd.ask());
  const events = [
    RoomEvent.ParticipantAttributesChanged,
    RoomEvent.ParticipantPermissionsChanged,
    RoomEvent.TrackPublished,
    RoomEvent.TrackUnpublished,
    RoomEvent.TrackSubscribed,
    RoomEvent.TrackUnsubscribed,
    RoomEvent.TrackMuted,
    RoomEvent.TrackUnmuted,
    RoomEvent.LocalTrackPublished,
    RoomEvent.LocalTrackUnpublished,
  ] as const;
  for (const event of events) room.on(event, changed);
  room.on(RoomEvent.DataReceived, (payload, from, _kind, topic, _encryption, sender) => {
    // The service sends ShowEvents through LiveKit's API, from no participant. Participants may
    // send on the topic too (chat), but a viewer's "recording stopped" or "invitation" must not
    // change what a page shows: only the service's events are taken.
    if (topic !== EVENTS_TOPIC || from || sender) return;
    const event = readShowEvent(payload);
    if (event) onEvent(event);
  });
  return room;
}

/** The least time between the starts of two reads a page does on coming back (onReturn). */
const RETURN_PACE_MS = 1_000;

/**
 * Calls `again` whenever the page may have missed ShowEvents: the browser is back online (the
 * service answers again at once, while livekit-client is still resuming its connection, which
 * takes seconds on a loaded machine or network), its LiveKit connection came back
 * (RoomEvent.Reconnected, which livekit-client gives after a resumed connection and after a full
 * reconnect alike; events sent between the first read and the resumed data channel are read
 * then), or the tab is shown again after being hidden (a phone's browser in the background, a
 * laptop asleep). `again` reads from the service what the page shows and shows it;
 * it never rejects. The triggers often come together (the laptop wakes: the tab is shown and the
 * connection comes back), so they go through a Coalesced: one read at a time, those asked for
 * meanwhile answered by a single read after it, at most one a second.
 *
 * `spreadMs`: how long, at random, a read after a reconnect waits first. A LiveKit node that
 * restarts brings every page connected to it back in the same second; the audience's pages spread
 * their reads over that time instead of all reaching the service at once (a tab shown again, or a
 * browser back online, is one viewer's own doing, and reads at once).
 */
export function onReturn(room: Room, again: () => Promise<void>, spreadMs = 0): void {
  const reread = new Coalesced(again, RETURN_PACE_MS);
  room.on(RoomEvent.Reconnected, () => {
    if (spreadMs > 0) setTimeout(() => void reread.ask(), Math.random() * spreadMs);
    else void reread.ask();
  });
  window.addEventListener("online", () => void reread.ask());
  let hidden = document.visibilityState === "hidden";
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") {
      hidden = true;
    } else if (hidden) {
      hidden = false;
      void reread.ask();
    }
  });
}
