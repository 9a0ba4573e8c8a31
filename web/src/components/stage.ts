/**
 * The stage: one tile of live video for the host and each guest, in that order, and their
 * voices. Each tile says when its microphone is muted (LiveKit's mute, by its owner or by a stage
 * manager). In the studio, and on a moderator's watch page, each guest's tile also carries the
 * stage manager's buttons for that guest, which follow what LiveKit says of the guest's tracks
 * and permission.
 */
import { type Participant, type Room, Track } from "livekit-client";
import { displayName, onStage, partOf } from "../show";
import { naming } from "./notice";

interface Tile {
  participant: Participant;
  figure: HTMLElement;
  video: HTMLVideoElement;
  actions: HTMLElement;
  muted: HTMLElement;
  track: Track | undefined;
  part: string;
}

export class Stage {
  private readonly tiles = new Map<string, Tile>();
  private readonly voices = new Map<string, { track: Track; element: HTMLMediaElement }>();
  private readonly empty = document.createElement("p");

  constructor(
    private readonly element: HTMLElement,
    private readonly actionsFor: (participant: Participant) => HTMLElement[] = () => [],
  ) {
    this.empty.className = "stage-empty";
    this.element.append(this.empty);
  }

  /** Brings the tiles in line with the room; `emptyText` says why nobody is on stage. A viewer
   * waiting for the show (`waiting`) is shown nobody: the stage is backstage until it goes live. */
  update(room: Room, emptyText: string, waiting = false): void {
    const everyone: Participant[] = waiting ? [] : [room.localParticipant, ...room.remoteParticipants.values()];
    const lineup = everyone
      .filter(onStage)
      .sort((a, b) => Number(partOf(b) === "host") - Number(partOf(a) === "host") || displayName(a).localeCompare(displayName(b)));
    const keep = new Set(lineup.map((p) => p.identity));
    for (const [identity, tile] of this.tiles) {
      if (!keep.has(identity)) {
        tile.track?.detach(tile.video);
        tile.figure.remove();
        this.tiles.delete(identity);
      }
    }
    for (const participant of lineup) this.show(participant);
    // Reorder only when the order changed: moving a playing video element is not free.
    const wanted = lineup.map((p) => this.tiles.get(p.identity)!.figure);
    const shown = [...this.element.querySelectorAll(":scope > figure")];
    if (wanted.some((figure, i) => shown[i] !== figure)) this.element.append(...wanted);
    this.empty.hidden = lineup.length > 0;
    this.empty.textContent = emptyText;
    this.hear(room);
  }

  private show(participant: Participant): void {
    let tile = this.tiles.get(participant.identity);
    const part = partOf(participant);
    if (!tile || tile.part !== part) {
      tile?.track?.detach(tile.video);
      tile?.figure.remove();
      tile = this.newTile(participant);
      this.tiles.set(participant.identity, tile);
    }
    const camera = participant.getTrackPublication(Track.Source.Camera);
    const track = camera && !camera.isMuted ? camera.track : undefined;
    if (track !== tile.track) {
      tile.track?.detach(tile.video);
      track?.attach(tile.video);
      tile.track = track;
    }
    tile.figure.classList.toggle("camera-off", !track);
    const microphone = participant.getTrackPublication(Track.Source.Microphone);
    const mic = !microphone ? "off" : microphone.isMuted ? "muted" : "on";
    tile.figure.dataset["microphone"] = mic;
    tile.muted.hidden = mic !== "muted";
    this.offer(tile, naming(this.actionsFor(participant), displayName(participant)));
  }

  /** Shows `actions` on the tile unless it shows the same already: a button is replaced only
   * when what it offers changed (a track muted, a source taken away), never while it is used. */
  private offer(tile: Tile, actions: HTMLElement[], always = false): void {
    const shown = [...tile.actions.children];
    // Not by `disabled`: a button is disabled while its own action runs.
    const same = (a: Element, b: HTMLElement): boolean => a.textContent === b.textContent && a.className === b.className;
    if (always || shown.length !== actions.length || actions.some((action, i) => !same(shown[i]!, action))) {
      tile.actions.replaceChildren(...actions);
    }
  }

  private newTile(participant: Participant): Tile {
    const figure = document.createElement("figure");
    figure.className = "tile";
    figure.dataset["identity"] = participant.identity;
    figure.dataset["part"] = partOf(participant);
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // voices play through their own audio elements
    video.setAttribute("aria-label", `${displayName(participant)}'s camera`);
    const caption = document.createElement("figcaption");
    const name = document.createElement("span");
    name.textContent = participant.isLocal ? `${displayName(participant)} (you)` : displayName(participant);
    const part = document.createElement("span");
    part.className = "part";
    part.textContent = partOf(participant);
    const muted = document.createElement("span");
    muted.className = "mic-muted";
    muted.textContent = "mic muted";
    muted.hidden = true;
    caption.append(name, part, muted);
    const actions = document.createElement("div");
    actions.className = "tile-actions";
    figure.append(video, caption, actions);
    return { participant, figure, video, actions, muted, track: undefined, part: partOf(participant) };
  }

  /** Asks again for every tile's buttons: the page's own part changed (a moderator appointed or
   * dismissed), and with it what this page may do to those on stage. */
  renewActions(): void {
    for (const tile of this.tiles.values()) this.offer(tile, naming(this.actionsFor(tile.participant), displayName(tile.participant)), true);
  }

  /** Plays every remote microphone; a voice stops when its track goes. */
  private hear(room: Room): void {
    const heard = new Set<string>();
    for (const participant of room.remoteParticipants.values()) {
      const microphone = participant.getTrackPublication(Track.Source.Microphone);
      const track = microphone?.track;
      if (!track || !microphone.trackSid) continue;
      heard.add(microphone.trackSid);
      if (!this.voices.has(microphone.trackSid)) {
        const element = track.attach();
        element.hidden = true;
        document.body.append(element);
        this.voices.set(microphone.trackSid, { track, element });
      }
    }
    for (const [sid, voice] of this.voices) {
      if (!heard.has(sid)) {
        voice.track.detach(voice.element);
        voice.element.remove();
        this.voices.delete(sid);
      }
    }
  }

  /** Lets go of every video and voice, when the show is over. */
  clear(emptyText: string): void {
    for (const tile of this.tiles.values()) {
      tile.track?.detach(tile.video);
      tile.figure.remove();
    }
    this.tiles.clear();
    for (const voice of this.voices.values()) {
      voice.track.detach(voice.element);
      voice.element.remove();
    }
    this.voices.clear();
    this.empty.textContent = emptyText;
    this.empty.hidden = false;
  }
}
