/**
 * What a stage manager does from a page, the host in the studio or a moderator on the watch page:
 * the queue of raised hands with Invite, the audience with the manager's buttons for each of its
 * people, on each guest's tile the mutes (and for the host the locks) of its microphone and
 * camera with Back to audience and Remove, and the bans with Unban (the queue and the bans a page
 * at a time, with Show more when they are longer). Both follow
 * what the service tells every manager (hands, bans, answers to invitations), so each manager's
 * page shows what the others did too: each list is read through a Coalesced, so however many
 * hands go up at once a page reads it one read at a time, about four a second. Every call goes
 * through the generated client with the manager's own token and names the manager as the acting
 * host; the page's notice shows the service's answer or refusal.
 *
 * While the stage is full (as many guests as the room's limit, GetRoom's count, read again as
 * guests come and go and as the limit changes) every Invite is disabled, and a note above the
 * queue, which each Invite names as its description, says so and what to do: the service would
 * refuse the invitation.
 */
import type { Participant, Room } from "livekit-client";
import { type Ban, type RaisedHand, type ShowEvent, type ShowRoom, type ShowServiceClient, refusal } from "../api";
import { GUEST_SOURCES, type GuestSource, displayName, partOf, remotes, takenAway } from "../show";
import { AUDIENCE_PAGE, Audience } from "./audience";
import { Bans } from "./bans";
import { Coalesced } from "./coalesced";
import type { Confirm } from "./confirm";
import { HandQueue } from "./handQueue";
import { type Notice, button } from "./notice";
import { type Page, PagedList } from "./pagedList";

/** The manager a page acts as: its client, calling with its own token, and its identity. */
export interface Manager {
  show: ShowServiceClient;
  identity: string;
}

/** Where the page shows what a manager sees. */
export interface ManagerPanel {
  handQueue: HTMLOListElement;
  audienceCount: HTMLElement;
  audience: HTMLUListElement;
  bans: HTMLUListElement;
  stageFull: HTMLElement; // why the Invite buttons are disabled, while the stage is full
  confirm: Confirm; // the page's question before a step that cannot be taken back (Remove and ban)
  // Hands and bans a page holds (unset: the service's default, the first 1,000), and viewers the
  // audience shows at a time (unset: AUDIENCE_PAGE).
  pageSize?: number;
  // Given the room as each read of the stage finds it (GetRoom): the studio takes the show's state
  // from it, so a page that missed show_live or show_ended learns it with the stage.
  roomRead?: (room: ShowRoom) => void;
}

/** Who the audience list shows, and the manager's buttons for each of them. */
export interface AudienceView {
  shows: (participant: Participant) => boolean;
  actionsFor: (participant: Participant) => HTMLElement[];
}

export class StageControls {
  private readonly handQueue: HandQueue;
  private readonly audience: Audience;
  private readonly bans: Bans;
  private readonly queue = new PagedList<RaisedHand>();
  private readonly banned = new PagedList<Ban>();
  private readonly handsRead = new Coalesced(() => this.look((manager) => this.queue.again((token) => this.handsPage(manager, token)), () => this.showHands()));
  private readonly bansRead = new Coalesced(() => this.look((manager) => this.banned.again((token) => this.bansPage(manager, token)), () => this.bans.render(this.banned)));
  private readonly stageRead = new Coalesced(() => this.look((manager) => this.stagePage(manager), () => this.showStage()));
  private readonly pageSize: number;
  private raised: ReadonlySet<string> = new Set();
  private readonly stageFull: HTMLElement;
  private readonly confirm: Confirm;
  private readonly roomRead: (room: ShowRoom) => void;
  private seats = { guests: 0, limit: 0 }; // 0 of 0 until GetRoom answers: not full

  /** `manager` is who the page acts as now, or undefined while it manages nothing (not yet
   * appointed, dismissed, the show over): nothing is asked of the service then. */
  constructor(
    private readonly roomName: string,
    private readonly room: Room,
    private readonly notice: Notice,
    private readonly manager: () => Manager | undefined,
    panel: ManagerPanel,
    private readonly view: AudienceView,
  ) {
    this.handQueue = new HandQueue(panel.handQueue, (identity) => this.invite(identity), () => this.showMoreHands());
    this.audience = new Audience(panel.audienceCount, panel.audience, view.actionsFor, panel.pageSize || AUDIENCE_PAGE);
    this.bans = new Bans(panel.bans, (identity) => this.unban(identity), () => this.showMoreBans());
    this.pageSize = panel.pageSize ?? 0;
    this.stageFull = panel.stageFull;
    this.confirm = panel.confirm;
    this.roomRead = panel.roomRead ?? (() => undefined);
  }

  /** Brings the audience in line with the room (its hand marks from the last look at the queue). */
  refresh(): void {
    this.audience.render(remotes(this.room).filter(this.view.shows), this.raised);
  }

  /** Reads the queue again, as many pages as are shown: `promptly` for the manager's own doing,
   * otherwise paced with the other reads that follow the show. */
  async refreshHands(promptly = false): Promise<void> {
    await this.handsRead.ask(promptly);
  }

  async refreshBans(promptly = false): Promise<void> {
    await this.bansRead.ask(promptly);
  }

  /** Reads how many guests are on stage, and how many may be. */
  async refreshStage(promptly = false): Promise<void> {
    await this.stageRead.ask(promptly);
  }

  /** Why no one can be invited now ("The stage is full (1 of 1 guest): …"), or undefined. */
  private full(): string | undefined {
    const { guests, limit } = this.seats;
    if (!limit || guests < limit) return undefined;
    return `The stage is full (${guests} of ${limit} guest${limit === 1 ? "" : "s"}): send a guest back to the audience to invite someone.`;
  }

  private async stagePage(manager: Manager): Promise<void> {
    const { response } = await manager.show.getRoom({ roomName: this.roomName });
    if (!response.room) return;
    this.seats = { guests: response.room.guests.length, limit: response.room.guestLimit };
    this.roomRead(response.room);
  }

  /** Shows the note, and redraws the Invite buttons when the stage filled or a seat came free. */
  private showStage(): void {
    const full = this.full();
    if (full === (this.stageFull.hidden ? undefined : this.stageFull.textContent)) return;
    this.stageFull.textContent = full ?? "";
    this.stageFull.hidden = !full;
    this.showHands();
  }

  private async showMoreHands(): Promise<void> {
    if (this.queue.more()) await this.refreshHands(true);
  }

  private async showMoreBans(): Promise<void> {
    if (this.banned.more()) await this.refreshBans(true);
  }

  /** Reads a list as the manager the page acts as now, and shows it. */
  private async look(read: (manager: Manager) => Promise<void>, show: () => void): Promise<void> {
    const manager = this.manager();
    if (!manager) return;
    try {
      await read(manager);
      show();
    } catch (error) {
      if (this.manager()) this.notice.show("error", refusal(error));
    }
  }

  private async handsPage(manager: Manager, pageToken: string): Promise<Page<RaisedHand>> {
    const { response } = await manager.show.listRaisedHands({ roomName: this.roomName, pageSize: this.pageSize, pageToken });
    return { items: response.hands, next: response.nextPageToken, total: response.total };
  }

  private async bansPage(manager: Manager, pageToken: string): Promise<Page<Ban>> {
    const { response } = await manager.show.listBans({ roomName: this.roomName, pageSize: this.pageSize, pageToken });
    return { items: response.bans, next: response.nextPageToken, total: response.total };
  }

  private showHands(): void {
    this.handQueue.render(this.queue, (identity) => this.nameOf(identity), (invite) => this.inviting(invite));
    this.raised = new Set(this.queue.items.map((hand) => hand.identity));
    this.refresh();
  }

  /** Follows what the service tells the host and the moderators: the queue after any change,
   * the bans after a ban or its lifting (whoever did it), the stage after a guest came or went or
   * the guest limit changed, each read at the pace of a burst rather than once per event, and a
   * viewer's no to an invitation (whoever invited: the answer goes to every manager). */
  follow(event: ShowEvent): void {
    if (!this.manager()) return;
    if (event.type === "guest_invite_response" && event.accepted === false) {
      this.notice.show("info", `${event.senderName || event.senderId} declined the invitation to the stage.`);
    }
    if (event.type === "participant_banned" || event.type === "participant_unbanned") void this.refreshBans();
    // A guest came or went, or the limit changed (the host's or the room admin's UpdateRoomSettings).
    if (event.type === "guest_promoted" || event.type === "guest_demoted" || event.type === "guest_limit_changed") void this.refreshStage();
    void this.refreshHands();
  }

  /** Runs a manager's action, shows the service's answer or its refusal, and looks again. */
  async act(action: (show: ShowServiceClient, me: string) => Promise<string>): Promise<void> {
    const manager = this.manager();
    if (!manager) return;
    try {
      this.notice.show("info", await action(manager.show, manager.identity));
    } catch (error) {
      this.notice.show("error", refusal(error));
    }
    await Promise.all([this.refreshHands(true), this.refreshBans(true), this.refreshStage(true)]);
  }

  async invite(viewerIdentity: string): Promise<void> {
    await this.act(async (s, me) => (await s.inviteGuest({ roomName: this.roomName, viewerIdentity, hostIdentity: me })).response.message);
  }

  inviteButton(viewer: Participant): HTMLButtonElement {
    return this.inviting(button("Invite", () => this.invite(viewer.identity), "invite"));
  }

  /** An Invite button as the stage allows: disabled, with why, while it is full. A class marks it
   * too, so that a redraw of its list shows it anew rather than keeping the enabled one. */
  private inviting(invite: HTMLButtonElement): HTMLButtonElement {
    const full = this.full();
    if (!full) return invite;
    invite.disabled = true;
    invite.classList.add("stage-full");
    invite.title = full;
    invite.setAttribute("aria-describedby", this.stageFull.id);
    return invite;
  }

  /** Remove, and Remove and ban: the participant is disconnected, and with a ban may not come back.
   * A ban lasts the show, so it is asked about first; a removal alone, which the viewer may undo
   * by joining again, is one click. */
  removeButtons(participant: Participant): HTMLButtonElement[] {
    const remove = (ban: boolean) => async (): Promise<void> => {
      const name = displayName(participant);
      if (ban && !(await this.confirm.ask(`Remove and ban ${name}? They leave the show and cannot join it again until the ban is lifted.`, "Remove and ban"))) return;
      await this.act(async (s) => {
        await s.removeParticipant({ roomName: this.roomName, identity: participant.identity, ban });
        return ban ? `${name} was removed and banned from the show.` : `${name} was removed from the show.`;
      });
    };
    return [button("Remove", remove(false), "danger remove"), button("Remove and ban", remove(true), "danger ban")];
  }

  /** A guest's tile carries its microphone's and camera's buttons, Back to audience and Remove;
   * nobody else's carries anything. */
  guestButtons(participant: Participant): HTMLElement[] {
    if (partOf(participant) !== "guest") return [];
    const guestIdentity = participant.identity;
    const roomName = this.roomName;
    return [
      ...GUEST_SOURCES.flatMap((source) => this.sourceButtons(participant, source)),
      button("Back to audience", () => this.act(async (s, me) => (await s.demoteGuest({ roomName, guestIdentity, hostIdentity: me })).response.message), "demote"),
      button("Remove", () => this.act(async (s, me) => (await s.removeGuest({ roomName, guestIdentity, hostIdentity: me })).response.message), "danger remove"),
    ];
  }

  /**
   * One source's buttons, as LiveKit shows the guest to this page. A source the guest's
   * permission leaves out was taken away: the host may give it back (Allow), a moderator has
   * nothing to do with it. Otherwise Mute, shown as already muted while LiveKit says the guest's
   * track is; and for the host Turn off (mute and lock), unless the guest's other source is
   * already off (a guest keeps one: the service refuses to lock the last). Mute is offered for a
   * track not yet published too: the service's NOT_FOUND says so in the notice.
   */
  private sourceButtons(guest: Participant, source: GuestSource): HTMLElement[] {
    const hosting = partOf(this.room.localParticipant) === "host";
    const roomName = this.roomName;
    const guestIdentity = guest.identity;
    if (takenAway(guest, source)) {
      if (!hosting) return [];
      return [
        button(
          `Allow ${source.short}`,
          () => this.act(async (s) => (await s.allowGuestSource({ roomName, guestIdentity, source: source.wire })).response.message),
          `allow-${source.name}`,
        ),
      ];
    }
    const mute = (lock: boolean) => (): Promise<void> =>
      this.act(async (s) => (await s.muteGuestTrack({ roomName, guestIdentity, source: source.wire, lock })).response.message);
    const buttons: HTMLElement[] = [];
    if (guest.getTrackPublication(source.source)?.isMuted) {
      const shown = button(`${source.title} muted`, async () => undefined, `muted mute-${source.name}`);
      shown.disabled = true;
      buttons.push(shown);
    } else {
      buttons.push(button(`Mute ${source.short}`, mute(false), `mute-${source.name}`));
    }
    const other = GUEST_SOURCES.find((s) => s !== source)!;
    if (hosting && !takenAway(guest, other)) buttons.push(button(`Turn off ${source.short}`, mute(true), `danger lock-${source.name}`));
    return buttons;
  }

  private async unban(identity: string): Promise<void> {
    await this.act(async (s) => (await s.unbanParticipant({ roomName: this.roomName, identity })).response.message);
  }

  private nameOf(identity: string): string {
    const participant = this.room.getParticipantByIdentity(identity);
    return participant ? displayName(participant) : identity;
  }
}
