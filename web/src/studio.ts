/**
 * The host studio, /studio/<room>: open the show backstage with camera and microphone (the host
 * mutes its own and turns its camera off and on: components/ownMedia.ts), go live
 * (the waiting audience sees the stage from then on), watch the audience and the queue of raised
 * hands, bring viewers on stage and send guests back, mute a guest's microphone or camera or turn
 * it off until allowed again, remove or ban viewers and lift bans, appoint
 * and dismiss moderators, record, restream the show to the destinations configured on the
 * service (components/restream.ts), end the show. The stage controls are the moderator's
 * (components/stageControls.ts).
 *
 * The host is made by the backend's admin token for the room (in the form, or in the URL fragment
 * as #name=…&admin=…); the page trades it for the host's own token with JoinRoom and calls with
 * that from then on. A reload rejoins with the host's token, kept for this tab only. That token is
 * renewed before it expires (renewal.ts), for a show longer than SHOW_TOKEN_TTL_SECONDS.
 *
 * The studio follows the show on the service's ShowEvents, which reach it only while it is
 * connected: when its connection comes back, or the tab is shown again, it reads again all it
 * read on going in (show.ts onReturn): the stage and the show's state, the queue, the bans, the
 * recording and the stream.
 */
import { RpcError } from "@protobuf-ts/runtime-rpc";
import { DisconnectReason, type Participant, RoomEvent } from "livekit-client";
import { EgressStatus, RecordingLayout, Role, ShowState, type ShowEvent, type ShowRoom, type ShowServiceClient, fragment, pageSizeFrom, refusal, roomFromPath, showService } from "./api";
import { Confirm } from "./components/confirm";
import { Notice, button, disabledWhile, onPress } from "./components/notice";
import { OwnMedia } from "./components/ownMedia";
import { Restream } from "./components/restream";
import { Stage } from "./components/stage";
import { StageControls } from "./components/stageControls";
import { TokenRenewal } from "./renewal";
import { connect, farewell, onReturn, onStage, partOf, showRoom } from "./show";
import "./style.css";

const roomName = roomFromPath();
const page = {
  roomName: document.querySelector<HTMLElement>("#room-name")!,
  liveBadge: document.querySelector<HTMLElement>("#live-badge")!,
  backstageBadge: document.querySelector<HTMLElement>("#backstage-badge")!,
  openShow: document.querySelector<HTMLButtonElement>("#open-show")!,
  recordingBadge: document.querySelector<HTMLElement>("#recording-badge")!,
  outBadge: document.querySelector<HTMLElement>("#out-badge")!,
  goLive: document.querySelector<HTMLFormElement>("#go-live")!,
  stageHeading: document.querySelector<HTMLElement>("#stage-heading")!,
  studio: document.querySelector<HTMLElement>("#studio")!,
  startRecording: document.querySelector<HTMLButtonElement>("#start-recording")!,
  stopRecording: document.querySelector<HTMLButtonElement>("#stop-recording")!,
  endShow: document.querySelector<HTMLButtonElement>("#end-show")!,
};
page.roomName.textContent = roomName;
document.title = `${roomName} · Studio · Showrunner`; // the tab names the show
document.querySelectorAll(".room-echo").forEach((echo) => (echo.textContent = roomName));
const notice = new Notice(document.querySelector("#notice")!);
// Asks before Remove and ban (the stage controls') and before End the show.
const confirm = new Confirm(document.querySelector("main")!);
const kept = `showrunner.host.${roomName}`;
// The name the kept host token was given for: a reload offers it, and a token is never let go for
// a name typed differently (the service refuses that token for any other name).
const keptName = `${kept}.name`;

let show: ShowServiceClient | undefined;
let me = "";
let live = false;
let ended = false;

const room = showRoom(refresh, heard);
// Each renewed host token is the studio's from then on, here and after a reload.
const renewal = new TokenRenewal(roomName, (token) => {
  sessionStorage.setItem(kept, token);
  show = showService(token);
}, renewalRefused);
const controls = new StageControls(
  roomName,
  room,
  notice,
  () => (show && !ended ? { show, identity: me } : undefined),
  {
    handQueue: document.querySelector("#hand-queue")!,
    audienceCount: document.querySelector("#audience-count")!,
    audience: document.querySelector("#audience")!,
    bans: document.querySelector<HTMLUListElement>("#bans")!,
    stageFull: document.querySelector("#stage-full")!,
    confirm,
    pageSize: pageSizeFrom(fragment()),
    roomRead: followRoom,
  },
  // The audience is everyone off stage, the moderators with it.
  { shows: (participant) => !onStage(participant), actionsFor: audienceButtons },
);
const stage = new Stage(document.querySelector("#stage")!, (participant) => controls.guestButtons(participant));
new OwnMedia(document.querySelector("#own-media")!, room, notice);
// Streaming is the host's decision: only the studio has this panel, a moderator's page nothing.
const restream = new Restream(roomName, notice, () => (show && !ended ? show : undefined), {
  none: document.querySelector("#restream-none")!,
  destinations: document.querySelector("#destinations")!,
  state: document.querySelector("#stream-state")!,
  last: document.querySelector("#restream-last")!,
  goOut: document.querySelector("#go-out")!,
  stop: document.querySelector("#stop-restream")!,
  badge: page.outBadge,
});

onReturn(room, readAgain);

room.on(RoomEvent.Disconnected, (reason) => {
  // Before the host is live a disconnection is a failed attempt, which goLive reports.
  if (live) finish(farewell(reason), reason === DisconnectReason.ROOM_DELETED);
});

const given = fragment();
for (const field of ["name", "admin"]) {
  page.goLive.querySelector<HTMLInputElement>(`input[name=${field}]`)!.value = given.get(field) ?? "";
}
// A reload without a name in the address offers the one this tab's host token is for.
if (!given.get("name")) page.goLive.querySelector<HTMLInputElement>("input[name=name]")!.value = sessionStorage.getItem(keptName) ?? "";
// The admin token has been read; keep it out of the address bar, history and screenshots. One in
// the query (?admin=…, the form sent before this script took it over, or a link written so) has
// reached the server already: it is not used, and taken out of the address all the same.
const asked = new URLSearchParams(window.location.search);
if (given.has("admin") || asked.has("admin")) {
  given.delete("admin");
  asked.delete("admin");
  // Their text, not URLSearchParams.size (Chrome 113, Safari 17): older browsers keep the rest too.
  const query = asked.toString();
  const rest = given.toString();
  history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}${rest ? `#${rest}` : ""}`);
}

page.goLive.addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(page.goLive);
  void goLive(String(form.get("name") ?? "").trim(), String(form.get("admin") ?? "").trim());
});
// The form is the script's from here: its button was disabled until now, so that it was never
// sent by the browser itself (with the admin token in it).
page.goLive.querySelector("button")!.disabled = false;
// Each disabled from the click until the service answers: a double click starts one recording.
const recordingButtons = [page.startRecording, page.stopRecording];
onPress(page.startRecording, () => void disabledWhile(recordingButtons, () => record(true), () => ended));
onPress(page.stopRecording, () => void disabledWhile(recordingButtons, () => record(false), () => ended));
onPress(page.endShow, () => void endShow());
onPress(page.openShow, () => void openToAudience());

async function goLive(name: string, adminToken: string): Promise<void> {
  const submit = page.goLive.querySelector("button")!;
  submit.disabled = true;
  notice.show("info", "Opening the show backstage…");
  // The admin token when one is given, else the host token this tab kept (a reload).
  const credential = adminToken || sessionStorage.getItem(kept);
  if (!credential) {
    notice.show("error", "Paste this room's admin token to open the show: your backend gives it to its hosts.");
    page.goLive.querySelector<HTMLInputElement>("input[name=admin]")!.focus();
    submit.disabled = false;
    return;
  }
  // The kept token is the host's under the name it was given for: under another it is refused,
  // and kept for that name.
  const hostName = sessionStorage.getItem(keptName);
  if (!adminToken && hostName && name !== hostName) {
    notice.show("error", `This tab hosts the show as ${hostName}: open it as ${hostName}, or paste the room's admin token to host under another name.`);
    page.goLive.querySelector<HTMLInputElement>("input[name=name]")!.focus();
    submit.disabled = false;
    return;
  }
  try {
    const { response } = await showService(credential).joinRoom({ roomName, participantName: name, role: Role.HOST, displayName: "" });
    sessionStorage.setItem(kept, response.token);
    sessionStorage.setItem(keptName, name);
    show = showService(response.token);
    me = response.identity;
    await connect(room, response.wsUrl, response.token);
    await room.localParticipant.enableCameraAndMicrophone().catch((error: unknown) => {
      throw new Error(`Your camera or microphone could not start (${refusal(error)}): allow them for this page, then open the show again.`);
    });
    live = true;
    renewal.hold(response.token);
    // Traded for the host's own token, which a reload uses: the admin token is kept nowhere.
    page.goLive.querySelector<HTMLInputElement>("input[name=admin]")!.value = "";
    page.goLive.hidden = true;
    page.studio.hidden = false;
    // The form and its button are gone: the host lands on the stage, from where Tab reaches its
    // own microphone and camera and the show's controls, rather than at the top of the page.
    page.stageHeading.focus();
    showState(response.state);
    notice.clear();
    refresh();
    await readAll();
  } catch (error) {
    // A kept host token the service no longer takes (the seat was given up) is let go; after any
    // other failure (the service restarting, the camera refused), or a pasted admin token refused,
    // the next try still has it.
    const keptRefused = !adminToken && error instanceof RpcError && (error.code === "unauthenticated" || error.code === "permission_denied");
    if (keptRefused) forget();
    await room.disconnect();
    // The service's reason ("token is malformed", "token has expired") said of what the host pasted.
    const tokenRefused = adminToken && error instanceof RpcError && error.code === "unauthenticated";
    notice.show("error", tokenRefused ? `The admin token was not accepted (${error.message}): ask your backend for a fresh one.` : refusal(error));
  } finally {
    submit.disabled = false;
  }
}

/** Lets go of the host token this tab kept, and the name it was for. */
function forget(): void {
  sessionStorage.removeItem(kept);
  sessionStorage.removeItem(keptName);
}

/** Everything the studio shows that the service holds: the stage (and with it the show's state),
 * the queue, the bans, the recording, the stream. */
async function readAll(): Promise<void> {
  await Promise.all([controls.refreshHands(), controls.refreshBans(), controls.refreshStage(), refreshRecording(), restream.refresh()]);
}

/** Back from a dropped connection or a hidden tab: whatever ShowEvents were sent meanwhile never
 * came, so the studio reads it all again, as on going in. */
async function readAgain(): Promise<void> {
  if (!live || ended) return;
  refresh();
  await readAll();
}

/** The show's state as a read of the stage found it. A show only moves on (backstage, live,
 * ended), so a read answered before the host's own Go live does not take LIVE away again. */
function followRoom(described: ShowRoom): void {
  if (described.state === ShowState.ENDED) finish("The show has ended.", true);
  else if (described.state === ShowState.LIVE) showState(ShowState.LIVE);
}

function refresh(): void {
  if (ended) return;
  stage.update(room, "Your camera is starting…");
  controls.refresh();
}

function heard(event: ShowEvent): void {
  switch (event.type) {
    case "recording_started":
      // Sent once LiveKit's egress is active: one this page stopped meanwhile stays stopped.
      if (!stopped.has(event.recordingId)) showRecording(event.recordingId);
      break;
    case "recording_stopped":
      // The one that ended may be the last, writing out its file while the next records.
      if (!event.recordingId || event.recordingId === recording) showRecording("");
      break;
    case "show_live":
      // Taken live by this page, by the room's admin (the app's backend) or by a reconciler.
      showState(ShowState.LIVE);
      break;
  }
  // The hands, the bans and answers to invitations, as on a moderator's page.
  controls.follow(event);
  // A stream's progress, which only the host and the moderators hear.
  restream.follow(event);
}

room.on(RoomEvent.ParticipantAttributesChanged, () => void controls.refreshHands());
room.on(RoomEvent.ParticipantDisconnected, () => void controls.refreshHands());

/** A viewer may be invited on stage, made a moderator, removed or banned; a moderator may be dismissed. */
function audienceButtons(participant: Participant): HTMLElement[] {
  const identity = participant.identity;
  if (partOf(participant) === "moderator") {
    return [button("Dismiss moderator", () => controls.act(async (s) => (await s.dismissModerator({ roomName, identity })).response.message), "dismiss")];
  }
  return [
    controls.inviteButton(participant),
    button("Make moderator", () => controls.act(async (s) => (await s.appointModerator({ roomName, identity })).response.message), "appoint"),
    ...controls.removeButtons(participant),
  ];
}

async function record(start: boolean): Promise<void> {
  await controls.act(async (s) => {
    if (start) {
      const { response } = await s.startRecording({ roomName, layout: RecordingLayout.SPEAKER });
      showRecording(response.recording?.recordingId ?? "");
      return "Recording started.";
    }
    const { response } = await s.stopRecording({ roomName });
    stopped.add(response.recording?.recordingId ?? recording);
    showRecording("");
    return "Recording stopped.";
  });
}

/** A recording already running when the host joins (a reload mid-recording) shows with its Stop
 * button; one ending (stopped, writing out its file) does not: a new one may start meanwhile. */
async function refreshRecording(): Promise<void> {
  if (!show || ended) return;
  const seen = recordingMoves;
  try {
    const { response } = await show.listRecordings({ roomName });
    // A recording started, stopped or heard of while this read was answered is newer than it.
    if (ended || seen !== recordingMoves) return;
    // A start still waiting for LiveKit's egress (no id yet) shows once it answers, on its event.
    const running = response.recordings.find((held) => held.endedAt === 0 && held.status < EgressStatus.EGRESS_ENDING && held.recordingId !== "");
    showRecording(running?.recordingId ?? "");
  } catch (error) {
    if (!ended) notice.show("error", refusal(error));
  }
}

/** The recording this page shows running, with its Stop button; "" when none is. */
let recording = "";
/** The recordings this page stopped, whose late recording_started shows nothing. */
const stopped = new Set<string>();
/** How many times the page has shown a recording, or none: a read begun before is older. */
let recordingMoves = 0;

function showRecording(id: string): void {
  recording = id;
  recordingMoves++;
  const on = id !== "";
  page.recordingBadge.hidden = !on;
  page.startRecording.hidden = on;
  page.stopRecording.hidden = !on;
}

/** Backstage: the host and guests get ready while the audience waits; live: the audience sees them. */
function showState(state: ShowState): void {
  const onAir = state === ShowState.LIVE;
  page.liveBadge.hidden = !onAir;
  page.backstageBadge.hidden = onAir;
  page.openShow.hidden = onAir;
}

/** What the host is told on going live: how many of the audience waiting backstage were let in. */
function wentLive(letIn: number): string {
  if (letIn === 0) return "You are live.";
  return `You are live. ${letIn} waiting ${letIn === 1 ? "viewer" : "viewers"} can see you now.`;
}

async function openToAudience(): Promise<void> {
  if (!show) return;
  page.openShow.disabled = true;
  try {
    const { response } = await show.goLive({ roomName });
    showState(response.state);
    notice.show("info", wentLive(response.viewersLetIn));
  } catch (error) {
    notice.show("error", refusal(error));
  } finally {
    page.openShow.disabled = false;
  }
}

async function endShow(): Promise<void> {
  const client = show;
  if (!client || ended) return;
  // Asked in the page's own dialog, the focus on Cancel. While it is open nothing else in the page
  // can be clicked; once taken, a second click while the service ends the show asks nothing more.
  if (!(await confirm.ask("End the show for everyone? Everyone in it is disconnected, and nobody can join it again.", "End the show"))) return;
  await disabledWhile(
    [page.endShow],
    async () => {
      try {
        await client.endShow({ roomName });
        finish("The show has ended.", true);
      } catch (error) {
        notice.show("error", refusal(error));
      }
    },
    () => ended,
  );
}

/** The service would not renew the host's token: the show ended, or the host no longer has a
 * place in it; a token that expired before it could be renewed (the device slept) says what to do. */
function renewalRefused(error: RpcError): void {
  if (error.code === "failed_precondition") finish("The show has ended.", true);
  else if (error.code === "permission_denied") finish(refusal(error), false);
  else notice.show("error", `The studio's place in the show could not be renewed (${refusal(error)}): reload the page to carry on.`);
}

function finish(message: string, over: boolean): void {
  if (ended) return;
  ended = true;
  renewal.stop();
  // A question still open (Remove and ban, End the show) is about a show that is over.
  confirm.withdraw();
  if (over) forget();
  void room.disconnect();
  stage.clear(message);
  page.liveBadge.hidden = true;
  page.backstageBadge.hidden = true;
  page.openShow.hidden = true;
  page.recordingBadge.hidden = true;
  page.outBadge.hidden = true;
  page.studio.querySelectorAll<HTMLButtonElement | HTMLInputElement>("button, input").forEach((b) => (b.disabled = true));
  // Nothing in the studio can do anything any more: the notice alone says why, once.
  page.studio.hidden = true;
  notice.show("ended", message);
}
