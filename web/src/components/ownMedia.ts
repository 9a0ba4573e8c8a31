/**
 * The buttons of a participant on stage for its own microphone and camera, in the studio and on a
 * guest's watch page: Mute mic or Unmute mic, Turn camera off or Turn camera on. Each mutes or
 * unmutes the published track (livekit-client's setMicrophoneEnabled and setCameraEnabled), so
 * LiveKit holds it muted and every page shows it so; a source not published yet is published.
 *
 * They follow what LiveKit says of this participant, not what was last clicked: a mute by the host
 * or a moderator (LiveKit mutes the local track) turns the button to Unmute mic, and a source the
 * host turned off (this participant's permission leaves it out) shows its button disabled with the
 * reason until the host allows it again.
 */
import { ConnectionState, type Room, RoomEvent } from "livekit-client";
import { refusal } from "../api";
import { GUEST_SOURCES, type GuestSource, enableSource, onStage, takenAway } from "../show";
import { type Notice, onPress } from "./notice";

/** What each button says while its source is live, and while it is muted or not published. */
const LABELS: Record<GuestSource["name"], { live: string; silent: string }> = {
  microphone: { live: "Mute mic", silent: "Unmute mic" },
  camera: { live: "Turn camera off", silent: "Turn camera on" },
};

interface Control {
  source: GuestSource;
  button: HTMLButtonElement;
  reason: HTMLElement;
  busy: boolean; // its own click is still running
}

export class OwnMedia {
  private readonly controls: Control[];

  constructor(
    private readonly element: HTMLElement,
    private readonly room: Room,
    private readonly notice: Notice,
  ) {
    this.controls = GUEST_SOURCES.map((source) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `own-${source.name}`;
      const reason = document.createElement("span");
      reason.className = `reason own-${source.name}-reason`;
      reason.textContent = `The host turned your ${source.name} off`;
      const control = { source, button, reason, busy: false };
      onPress(button, () => void this.toggle(control));
      this.element.append(button, reason);
      return control;
    });
    // The local track's mutes (its owner's, or LiveKit's on a manager's MuteGuestTrack), its
    // publishing, the permission that locks a source, the part that puts it on stage.
    const events = [
      RoomEvent.TrackMuted,
      RoomEvent.TrackUnmuted,
      RoomEvent.LocalTrackPublished,
      RoomEvent.LocalTrackUnpublished,
      RoomEvent.ParticipantPermissionsChanged,
      RoomEvent.ParticipantAttributesChanged,
      RoomEvent.ConnectionStateChanged,
    ] as const;
    for (const event of events) room.on(event, () => this.update());
    this.update();
  }

  /** Shows the buttons while this participant is on stage and may publish, as LiveKit says now. */
  update(): void {
    const me = this.room.localParticipant;
    this.element.hidden = this.room.state === ConnectionState.Disconnected || !onStage(me) || !me.permissions?.canPublish;
    for (const control of this.controls) {
      const locked = takenAway(me, control.source);
      const labels = LABELS[control.source.name];
      control.button.textContent = this.live(control.source) ? labels.live : labels.silent;
      control.button.disabled = control.busy || locked;
      control.reason.hidden = !locked;
    }
  }

  /** Whether this participant's track of `source` is published and not muted. */
  private live(source: GuestSource): boolean {
    const publication = this.room.localParticipant.getTrackPublication(source.source);
    return !!publication?.track && !publication.isMuted;
  }

  private async toggle(control: Control): Promise<void> {
    const { source } = control;
    const on = !this.live(source);
    const me = this.room.localParticipant;
    control.busy = true;
    this.update();
    try {
      await enableSource(me, source, on);
    } catch (error) {
      this.notice.show("error", `Your ${source.name} could not ${on ? "start" : "stop"}: ${refusal(error)}`);
    } finally {
      control.busy = false;
      this.update();
    }
  }
}
