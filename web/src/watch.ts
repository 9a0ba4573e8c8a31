/**
 * The watch page, /watch/<room>: join the audience with a name, watch the host and the guests,
 * raise a hand, answer an invitation, and once on stage publish camera and microphone on the same
 * connection (LiveKit changes this participant's permission live), until stepping down. On stage
 * the guest mutes and unmutes its own microphone and turns its camera off and on
 * (components/ownMedia.ts, as the host in the studio); a source the host turned off shows its
 * button disabled with the reason, and is published again when the host allows it.
 *
 * A viewer the host appoints moderator (JoinRoom answers ROLE_MODERATOR, or the service's
 * moderator_appointed event names this participant) manages the stage beside the host: the page
 * shows the studio's hand queue, the audience with Invite, Remove and Remove and ban, the bans
 * with Unban, and each guest's Mute mic, Mute camera, Back to audience and Remove (never Turn off:
 * taking a source away is the host's), until moderator_dismissed. It hears a
 * viewer decline an invitation, and the host's and other moderators' bans, as the studio does.
 *
 * The page follows the service's ShowEvents, which reach it only while it is connected: when its
 * connection comes back, or the tab is shown again, it asks the service where the viewer is
 * (show.ts onReturn, readAgain below: GetMyPlace): its part, its hand, its invitation and whether
 * the show has ended.
 *
 * The token JoinRoom gave is renewed before it expires (renewal.ts), kept for a reload and used
 * for every later call; a renewal refused because the viewer was banned, or the show ended, is
 * said as the page says those when LiveKit tells them.
 */
import { RpcError } from "@protobuf-ts/runtime-rpc";
import { DisconnectReason, type Participant, RoomEvent } from "livekit-client";
import { Role, type ShowEvent, type ShowServiceClient, ShowState, clockSkew, fragment, pageSizeFrom, refusal, roomFromPath, showService } from "./api";
import { Confirm } from "./components/confirm";
import { Invitation } from "./components/invitation";
import { Notice, disabledWhile, onPress } from "./components/notice";
import { OwnMedia } from "./components/ownMedia";
import { Stage } from "./components/stage";
import { StageControls } from "./components/stageControls";
import { TokenRenewal } from "./renewal";
import { GUEST_SOURCES, connect, enableSource, farewell, onReturn, onStage, partOf, publishes, remotes, showRoom } from "./show";
import "./style.css";

type Permission = Participant["permissions"];

const roomName = roomFromPath();
const page = {
  roomName: document.querySelector<HTMLElement>("#room-name")!,
  onStageBadge: document.querySelector<HTMLElement>("#on-stage-badge")!,
  join: document.querySelector<HTMLFormElement>("#join")!,
  name: document.querySelector<HTMLInputElement>("#join input[name=name]")!,
  nameRefused: document.querySelector<HTMLElement>("#name-refused")!,
  stageHeading: document.querySelector<HTMLElement>("#stage-heading")!,
  show: document.querySelector<HTMLElement>("#show")!,
  hand: document.querySelector<HTMLButtonElement>("#hand")!,
  stepDown: document.querySelector<HTMLButtonElement>("#step-down")!,
  moderation: document.querySelector<HTMLElement>("#moderation")!,
};
page.roomName.textContent = roomName;
document.title = `${roomName} · Watch · Showrunner`; // the tab names the show
const notice = new Notice(document.querySelector("#notice")!);
// A moderator's Remove and ban asks first.
const confirm = new Confirm(document.querySelector("main")!);
// The page speaks to the viewer about itself, in the same words as the show's events about it
// (guest_promoted, guest_demoted), whichever of the answer and the event comes last.
const ON_STAGE = "You are on stage: your camera and microphone are live.";
const IN_AUDIENCE = "You are back in the audience.";

let show: ShowServiceClient | undefined;
let me = "";
let watching = false;
let ended = false;
let hostLeft = false;
// This viewer's hand, as the service last answered (a hand is not a LiveKit attribute).
let handUp = false;
// A moderator, as JoinRoom answered or the service's events since told.
let moderating = false;
// The service's events about this viewer heard so far: a read of its place (readAgain) answered
// after one of them may be older than it, and is read again.
let heardOfMe = 0;
/** How many reads of its place, each overtaken by an event about the viewer, readAgain makes. */
const READS_OVERTAKEN = 3;
/** The most a viewer's page waits, at random, before reading the show again after a reconnect. */
const RECONNECT_SPREAD_MS = 2_000;

const room = showRoom(refresh, heard);
// The token lasts SHOW_TOKEN_TTL_SECONDS; a show may last longer. Each renewed one is the
// viewer's from then on, here and after a reload.
const renewal = new TokenRenewal(roomName, (token) => {
  sessionStorage.setItem(kept(me), token);
  show = showService(token);
}, renewalRefused);
const controls = new StageControls(
  roomName,
  room,
  notice,
  () => (moderating && show && !ended ? { show, identity: me } : undefined),
  {
    handQueue: document.querySelector("#hand-queue")!,
    audienceCount: document.querySelector("#audience-count")!,
    audience: document.querySelector("#audience")!,
    bans: document.querySelector<HTMLUListElement>("#bans")!,
    stageFull: document.querySelector("#stage-full")!,
    confirm,
    pageSize: pageSizeFrom(fragment()),
  },
  // A moderator acts on viewers only: never on the host, nor on another moderator.
  {
    shows: (participant) => partOf(participant) === "viewer",
    actionsFor: (viewer): HTMLElement[] => [controls.inviteButton(viewer), ...controls.removeButtons(viewer)],
  },
);
const stage = new Stage(document.querySelector("#stage")!, (participant) => (moderating ? controls.guestButtons(participant) : []));
new OwnMedia(document.querySelector("#own-media")!, room, notice);
const invitation = new Invitation(document.querySelector("#invitation")!, accept, decline, (from) =>
  notice.show("info", `The invitation from ${from} has expired.${moderating ? "" : " Raise your hand to be asked again."}`),
);

// Spread over 2 s after a reconnect: a whole audience comes back together when its LiveKit node does.
onReturn(room, readAgain, RECONNECT_SPREAD_MS);

room.on(RoomEvent.Disconnected, (reason) => {
  // Before the viewer is in, a disconnection is a failed attempt, which join reports.
  if (watching) finish(farewell(reason));
});
room.on(RoomEvent.ParticipantPermissionsChanged, (before: Permission, participant: Participant) => {
  if (participant.isLocal) void followPermission(before);
});
// A moderator's queue follows the room as the studio's does.
room.on(RoomEvent.ParticipantAttributesChanged, () => void controls.refreshHands());
room.on(RoomEvent.ParticipantDisconnected, () => void controls.refreshHands());

page.name.value = fragment().get("name") ?? "";
page.join.addEventListener("submit", (event) => {
  event.preventDefault();
  void join(page.name.value.trim());
});
page.name.addEventListener("input", () => refuseName(""));
// Each disabled from the click until the service answers, and a double click's second click,
// however late, is the same press: a double click raises the hand once (rather than raising and
// lowering it), and steps down once.
onPress(page.hand, () => void disabledWhile([page.hand], () => act(async (s) => {
  const raise = !handUp;
  const { response } = await s.setHandRaised({ roomName, participantIdentity: me, raised: raise });
  handUp = response.handRaised;
  if (response.promoted) return ON_STAGE;
  return raise ? "Your hand is raised; the host sees you in the queue." : "Your hand is lowered.";
})));
onPress(page.stepDown, () =>
  void disabledWhile([page.stepDown], () => act(async (s) => {
    await s.stepDown({ roomName, guestIdentity: me });
    return IN_AUDIENCE;
  })),
);

/** Where this tab keeps the token it was given for `name` in this room (it ends with the tab). */
function kept(name: string): string {
  return `showrunner:watch:${roomName}:${name}`;
}

/** Says beside the name box why the name typed cannot be used, with the cursor back in the box;
 * "" takes the reason away. */
function refuseName(reason: string): void {
  page.nameRefused.textContent = reason;
  if (!reason) {
    page.name.removeAttribute("aria-invalid");
    return;
  }
  page.name.setAttribute("aria-invalid", "true");
  page.name.focus();
}

/** Why the service refused the name, in the viewer's words; undefined if it refused something
 * else. JoinRoom names the field it checked ("participantName must be 1 to 128 characters: …"),
 * which is the viewer's name here; and it keeps a name with a part in the show (a guest's, a
 * moderator's, a raised hand's, an invitation's) for its holder ("mary has a raised hand in this
 * room: joining as mary needs its own token or the room's admin token"), which to the viewer who
 * typed it is a name taken: tokens are none of its business. */
function nameRefusal(error: unknown): string | undefined {
  if (!(error instanceof RpcError)) return undefined;
  if (error.code === "permission_denied" && /: joining as \S+ needs its own token or the room's admin token$/.test(error.message)) {
    return "That name is taken in this show: pick another.";
  }
  if (error.code !== "invalid_argument") return undefined;
  const rule = /^(?:participantName|displayName) (must .*)$/s.exec(error.message);
  return rule ? `That name can't be used: it ${rule[1]}.` : undefined;
}

async function join(name: string): Promise<void> {
  // The box wants a name, but takes spaces: those are no name.
  if (!name) {
    refuseName("Type your name to join the audience.");
    return;
  }
  refuseName("");
  const submit = page.join.querySelector("button")!;
  submit.disabled = true;
  notice.show("info", "Joining the show…");
  try {
    // Anyone may watch: joining as a viewer needs no token. A name with a part in the show (a
    // guest, a moderator, a raised hand, an invitation) is given only to its holder: a reload
    // rejoins with the token this tab kept for that name, and without one if it has expired. Any other refusal (the service
    // restarting, a rate limit) leaves the token kept for the next try.
    const request = { roomName, participantName: name, role: Role.VIEWER, displayName: "" };
    const heardBefore = heardOfMe;
    const credential = sessionStorage.getItem(kept(name)) ?? undefined;
    let joined;
    try {
      joined = await showService(credential).joinRoom(request);
    } catch (error) {
      if (!credential || !(error instanceof RpcError && error.code === "unauthenticated")) throw error;
      sessionStorage.removeItem(kept(name));
      joined = await showService().joinRoom(request);
    }
    const { response } = joined;
    const skew = clockSkew(joined.headers); // as the answer arrived, before connecting takes its time
    sessionStorage.setItem(kept(name), response.token);
    show = showService(response.token);
    me = response.identity;
    await connect(room, response.wsUrl, response.token);
    watching = true;
    renewal.hold(response.token);
    page.join.hidden = true;
    page.show.hidden = false;
    // The form and its button are gone: the viewer lands on the stage, from where Tab reaches
    // Raise hand, rather than at the top of the page.
    page.stageHeading.focus();
    notice.clear();
    // Back from a reload (or a dropped connection) within the grace window: the hand is still up
    // in its place in the queue, and an invitation still waits, as the service keeps them.
    handUp = response.handRaised;
    // Its sender named as the live guest_invite names it; one the service does not know (an
    // invitation an older version gave) is put down to the host. Whether it stands, and how long,
    // is the service's clock's to say, never the browser's.
    if (response.invitationExpiresAt > Date.now() + skew) invitation.show(response.invitedBy || "The host", response.invitationExpiresAt, skew);
    moderate(response.role === Role.MODERATOR);
    // A guest who comes back (a reload) keeps the stage: its connection may publish from the start.
    await followPermission(undefined);
    // Events about this viewer heard while connecting (an appointment, its hand lowered as its
    // last connection left) are newer than JoinRoom's answer, shown above: the page reads its
    // place again.
    if (heardOfMe !== heardBefore) void readAgain();
  } catch (error) {
    await room.disconnect();
    const nameRefused = nameRefusal(error);
    if (nameRefused) {
      notice.clear();
      refuseName(nameRefused);
    } else {
      notice.show("error", refusal(error));
    }
  } finally {
    submit.disabled = false;
  }
}

function refresh(): void {
  if (ended || !me) return;
  const host = remotes(room).find((p) => partOf(p) === "host");
  if (host) hostLeft = false;
  const part = partOf(room.localParticipant);
  stage.update(
    room,
    hostLeft ? "The host has left the stage. Stay tuned." : "The show has not started yet. The stage opens when the host goes live.",
    // A viewer of a show not live yet may not subscribe (the service decides, on LiveKit).
    !onStage(room.localParticipant) && room.localParticipant.permissions?.canSubscribe === false,
  );
  if (moderating) controls.refresh();
  page.onStageBadge.hidden = part !== "guest";
  // A moderator raises no hand: it brings others on stage, never itself.
  const mayRaise = part === "viewer" && !moderating;
  page.hand.hidden = !mayRaise;
  if (!mayRaise) handUp = false; // going on stage, or being appointed, takes the hand down
  page.hand.textContent = handUp ? "Lower hand" : "Raise hand";
  page.stepDown.hidden = part !== "guest";
}

function heard(event: ShowEvent): void {
  if (ended) return; // the notice says why the page is over; nothing after it changes that
  const aboutMe = event.targetParticipantId === me;
  if (aboutMe || event.senderId === me) heardOfMe++;
  switch (event.type) {
    case "guest_invite":
      // Its expiry and its sending both by the service's clock.
      if (aboutMe) invitation.show(event.senderName || event.senderId, event.expiresAt, event.timestamp ? event.timestamp - Date.now() : 0);
      break;
    case "guest_promoted":
      if (aboutMe) {
        invitation.hide();
        notice.show("info", ON_STAGE);
      }
      break;
    case "guest_demoted":
      if (aboutMe) notice.show("info", IN_AUDIENCE);
      break;
    case "host_left":
      hostLeft = true;
      break;
    case "show_live":
      // LiveKit subscribes this viewer to the stage by itself; the page just shows it.
      break;
    case "hand_raise":
    case "hand_lower":
      // This viewer's own hand, changed from another tab or by the service.
      if (event.senderId === me) handUp = event.type === "hand_raise";
      break;
    case "moderator_appointed":
    case "moderator_dismissed":
      if (aboutMe) appoint(event.type === "moderator_appointed");
      break;
  }
  // What a moderator sees (the hands, the bans, answers to invitations) follows what the service tells.
  controls.follow(event);
  refresh();
}

/** The service made this viewer a moderator, or dismissed it: the page says so. */
function appoint(appointed: boolean): void {
  moderate(appointed);
  notice.show("info", appointed ? "You are a moderator: you manage the stage beside the host." : "You are no longer a moderator.");
}

/**
 * Back from a dropped connection or a hidden tab: whatever ShowEvents were sent meanwhile (an
 * invitation, an appointment, a hand lowered) never came. The page asks the service where this
 * viewer is with GetMyPlace and its own token: a read of its own record that mints no token and
 * spends nothing of the join limit its address shares (a whole audience behind one NAT comes back
 * together), answering the viewer's part, its hand, its invitation and the show's state, ENDED
 * when it ended meanwhile. Its place on stage and the show's going live are LiveKit's (the role
 * attribute and the permission), which the connection brings back by itself.
 */
async function readAgain(): Promise<void> {
  const client = show;
  if (!watching || ended || !client) return;
  let answer, skew;
  // An event about this viewer that came while GetMyPlace answered is as new as the answer, or
  // newer: the page reads once more, and a read overtaken every time (events keep coming, and
  // keep the page current themselves) is let go.
  for (let reads = 0; ; reads++) {
    if (reads === READS_OVERTAKEN) return;
    const heardBefore = heardOfMe;
    try {
      const read = await client.getMyPlace({ roomName });
      ({ response: answer } = read);
      skew = clockSkew(read.headers);
    } catch (error) {
      // The page shows what it knew: the next return, or event, brings it on.
      console.warn("Reading the show again failed:", error);
      return;
    }
    if (ended) return;
    if (answer.state === ShowState.ENDED) {
      finish("The show has ended.");
      return;
    }
    if (heardOfMe === heardBefore) break;
  }
  handUp = answer.handRaised;
  if (answer.invitationExpiresAt <= Date.now() + skew) invitation.hide();
  // The invitation shown already is not shown (and read out) again.
  else if (invitation.expiresAt !== answer.invitationExpiresAt) invitation.show(answer.invitedBy || "The host", answer.invitationExpiresAt, skew);
  const moderator = answer.role === Role.MODERATOR;
  if (moderator !== moderating) appoint(moderator);
  else if (moderating) await Promise.all([controls.refreshHands(), controls.refreshBans(), controls.refreshStage()]);
  refresh();
}

/** Shows or hides the moderator's panel and its buttons on the guests' tiles. */
function moderate(on: boolean): void {
  moderating = on;
  page.moderation.hidden = !on;
  stage.renewActions();
  if (on) void Promise.all([controls.refreshHands(), controls.refreshBans(), controls.refreshStage()]);
  refresh();
}

/** On stage LiveKit lets this connection publish: the sources its permission lists go live
 * (captured together, asked for in one prompt, and each published on its own); off stage they
 * stop. A guest the host took a source from (a reload with the camera locked) starts only the
 * others: a source LiveKit would refuse is never captured, and one whose publish fails anyway is
 * stopped, so no camera or microphone is left running. A source the host took away (LiveKit
 * unpublished it) goes live again when it is given back. */
async function followPermission(before: Permission): Promise<void> {
  const now = room.localParticipant.permissions;
  if (now?.canPublish) {
    const local = room.localParticipant;
    const starting = GUEST_SOURCES.filter((s) => publishes(now, s) && !publishes(before, s));
    // Both at once (a promotion): one capture, so that the browser asks for the camera and the
    // microphone in one prompt. Each is then published on its own, and one LiveKit refuses is
    // stopped; should the capture fail (one of them denied), each is started alone below, so a
    // denied camera does not cost the microphone.
    const fresh = starting.length > 1 && starting.every((s) => !local.getTrackPublication(s.source));
    const captured = fresh ? await local.createTracks({ audio: true, video: true }).catch(() => []) : [];
    for (const source of starting) {
      const track = captured.find((t) => t.source === source.source);
      // Each source as the permission stands now: one sent back to the audience (or a show that
      // ended) while the last one started captures nothing more.
      if (ended || !publishes(local.permissions, source)) {
        track?.stop();
        continue;
      }
      const start = track
        ? local.publishTrack(track).catch((error: unknown) => {
            track.stop();
            throw error;
          })
        : enableSource(local, source, true);
      await start.catch((error: unknown) => {
        // Refused because the guest left the stage (or the show ended) meanwhile: nothing to say,
        // the page says where it is now.
        if (!ended && publishes(local.permissions, source)) {
          notice.show("error", `Your ${source.name} could not start: ${refusal(error)}`);
        }
      });
    }
  } else if (before?.canPublish) {
    for (const publication of room.localParticipant.trackPublications.values()) {
      if (publication.track) await room.localParticipant.unpublishTrack(publication.track, true).catch(() => undefined);
    }
  }
  refresh();
}

async function act(action: (show: ShowServiceClient) => Promise<string>): Promise<void> {
  if (!show) return;
  try {
    const said = await action(show);
    if (!ended) notice.show("info", said);
  } catch (error) {
    if (!ended) notice.show("error", refusal(error));
  }
  refresh();
}

async function accept(): Promise<void> {
  await answer(async (s) => {
    await s.acceptInvitation({ roomName, viewerIdentity: me });
    return ON_STAGE;
  });
}

async function decline(): Promise<void> {
  await answer(async (s) => {
    await s.declineInvitation({ roomName, viewerIdentity: me });
    return "You declined the invitation.";
  });
}

/** Answers the invitation with `call`. It goes once answered, or once the service says it stands
 * no more (endsInvitation); an answer that did not get through leaves it up, to be answered again. */
async function answer(call: (show: ShowServiceClient) => Promise<string>): Promise<void> {
  if (!show) return;
  const answering = invitation.expiresAt;
  // A read of the viewer's place under way began before this answer: its invitation is older news.
  heardOfMe++;
  let tone: "info" | "error" = "info";
  let said: string;
  let over = true; // the invitation answered stands no more
  try {
    said = await call(show);
  } catch (error) {
    [tone, said, over] = ["error", refusal(error), endsInvitation(error)];
  }
  heardOfMe++;
  // Only the invitation answered goes: a newer one (sent while the answer was on its way) stays.
  // One still shown after an answer that did not get through is said to stand (not one that
  // expired meanwhile, as the page has said).
  if (over) {
    if (invitation.expiresAt === answering) invitation.hide();
  } else if (invitation.expiresAt !== 0) {
    said = `${/[.!?]$/.test(said) ? said : `${said}.`} The invitation still stands: answer it again.`;
  }
  if (!ended) notice.show(tone, said);
  refresh();
}

/** Whether the service's refusal of an answer says the invitation is over: none is pending (it
 * expired, or was answered from another tab), or the viewer can no longer take it (already on
 * stage, banned, the show ended). Any other failure (the network, the service restarting, a rate
 * limit, a full stage) leaves the invitation standing, as the service keeps it. */
function endsInvitation(error: unknown): boolean {
  return error instanceof RpcError && (error.code === "not_found" || error.code === "failed_precondition");
}

/** The service would not renew the viewer's token: said as the page says it when LiveKit tells it
 * (a ban removes the viewer; the show ended), or, for a token that expired before it could be
 * renewed (the device slept), what to do. */
function renewalRefused(error: RpcError): void {
  if (error.code === "failed_precondition") finish("The show has ended.");
  else if (error.code === "permission_denied") finish(farewell(DisconnectReason.PARTICIPANT_REMOVED));
  else notice.show("error", `Your place in the show could not be renewed (${refusal(error)}): reload the page to carry on.`);
}

function finish(message: string): void {
  if (ended) return;
  ended = true;
  renewal.stop();
  // Read as ENDED by the service before LiveKit said so (or as removed): the page leaves LiveKit
  // too, so that a guest's camera and microphone stop with the controls that go.
  void room.disconnect();
  invitation.hide();
  // A moderator's Remove and ban still asked is about a show this page has left.
  confirm.withdraw();
  stage.clear(message);
  page.join.hidden = true;
  // Nothing on the stage or beside it can do anything any more: the notice alone says why, once.
  page.show.hidden = true;
  page.onStageBadge.hidden = true;
  notice.show("ended", message);
}
