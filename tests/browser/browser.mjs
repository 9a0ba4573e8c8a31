// What the browser tests share: Debian's chromium started by playwright-core with a fake camera
// and microphone and a fresh profile, pages opened on the service, waits for what a person would
// see, and on a failure a screenshot of every page and the pages' console in OUT_DIR.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const { BASE_URL, ROOM, ADMIN_TOKEN, OUT_DIR, SCREENSHOTS_DIR, LIVEKIT_URL } = process.env;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const STEP_MS = 25_000;
const started = Date.now();

export function say(text) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${text}`);
}

// Given to every page before its own scripts: frames decoded so far in a participant's stage tile.
function installFrameCounter() {
  window.framesOf = (id) => {
    const video = document.querySelector(`.tile[data-identity="${id}"] video`);
    return video && video.readyState >= 2 ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
  };
}

// Given to every page before its own scripts: while `window.cutOff` is set, every message on the
// page's WebRTC data channels (where LiveKit carries the ShowEvents) is dropped before
// livekit-client sees it, as if it had come while the connection was down. The browser's offline
// emulation stops the page's requests and websockets, not WebRTC's own UDP, which would otherwise
// still bring the events.
function installCutOff() {
  const handler = Object.getOwnPropertyDescriptor(RTCDataChannel.prototype, "onmessage");
  Object.defineProperty(RTCDataChannel.prototype, "onmessage", {
    configurable: true,
    get() {
      return handler.get.call(this);
    },
    set(listener) {
      handler.set.call(this, listener && ((event) => (window.cutOff ? undefined : listener.call(this, event))));
    },
  });
}

// Given to every page before its own scripts: each camera and microphone track the page captures
// (getUserMedia, as livekit-client asks for them) is kept in window.capturedTracks, so that a
// story can tell whether one is still running ("live") after the page let go of it.
function installTrackRecorder() {
  const devices = navigator.mediaDevices;
  if (!devices) return;
  const capture = devices.getUserMedia.bind(devices);
  window.capturedTracks = [];
  window.captures = []; // the kinds each getUserMedia call captured: one prompt each in a browser
  devices.getUserMedia = async (constraints) => {
    const stream = await capture(constraints);
    window.capturedTracks.push(...stream.getTracks());
    window.captures.push(stream.getTracks().map((track) => track.kind).sort());
    return stream;
  };
}

/** What each of `page`'s captures took, in order: ["audio", "video"] for both in one. */
export async function captures(page) {
  return page.evaluate(() => window.captures);
}

/** The kinds ("audio", "video") of the tracks `page` captured that are still running. */
export async function liveCaptures(page) {
  return page.evaluate(() => window.capturedTracks.filter((track) => track.readyState === "live").map((track) => track.kind));
}

const NETWORK = { latency: 0, downloadThroughput: -1, uploadThroughput: -1 };

/** Takes `page` off the network as a dropped connection does: offline (its calls to the service
 * fail, and livekit-client, told by the browser, reconnects once it is back) and deaf to
 * LiveKit's data channel. Resolves to the function that brings it back. */
export async function cutOff(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await page.evaluate(() => (window.cutOff = true));
  await cdp.send("Network.emulateNetworkConditions", { offline: true, ...NETWORK });
  return async () => {
    await page.evaluate(() => (window.cutOff = false));
    await cdp.send("Network.emulateNetworkConditions", { offline: false, ...NETWORK });
  };
}

/** Hides `page`'s tab as the browser does when another tab is chosen or the phone locks (headless
 * tabs are never hidden: the page is told so), and deaf to LiveKit's data channel while hidden, as a
 * sleeping laptop's page would be. Resolves to the function that shows it again. */
export async function hide(page) {
  const visibility = (state) => {
    if (state) Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
    else delete document.visibilityState;
    window.cutOff = !!state;
    document.dispatchEvent(new Event("visibilitychange"));
  };
  await page.evaluate(visibility, "hidden");
  return () => page.evaluate(visibility, undefined);
}

/** Resolves once the tile of `identity` shows live video: frames decoded, and more still coming. */
export async function seesVideo(page, identity) {
  await page.waitForFunction((id) => window.framesOf(id) > 0, identity, { timeout: STEP_MS });
  const first = await page.evaluate((id) => window.framesOf(id), identity);
  await page.waitForFunction(([id, seen]) => window.framesOf(id) > seen, [identity, first], { timeout: STEP_MS });
}

export async function seesNoVideo(page, identity) {
  await page.waitForSelector(`.tile[data-identity="${identity}"]`, { state: "detached", timeout: STEP_MS });
}

/** Resolves once the notice says exactly `text`, in `tone`. */
export async function noticeIs(page, tone, text) {
  await page.waitForFunction(([k, t]) => document.querySelector(`#notice[data-tone="${k}"]`)?.textContent === t, [tone, text], { timeout: STEP_MS }).catch(async () => {
    throw new Error(`expected the notice to say exactly ${JSON.stringify(text)}, it says ${JSON.stringify(await page.textContent("#notice"))}`);
  });
}

export async function noticeSays(page, tone, text) {
  await page.waitForSelector(`#notice[data-tone="${tone}"]`, { timeout: STEP_MS });
  await page.waitForFunction(([t]) => document.querySelector("#notice")?.textContent?.startsWith(t), [text], { timeout: STEP_MS }).catch(async () => {
    throw new Error(`expected the notice to say ${JSON.stringify(text)}, it says ${JSON.stringify(await page.textContent("#notice"))}`);
  });
}

/** Runs `play(open, logs)` in a fresh browser; `open(name, path)` opens a page, `logs` holds every
 * page's console so far. Exits 1 on a failure. */
export async function inBrowser(play) {
  const profile = mkdtempSync(join(tmpdir(), "showrunner-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-gpu",
      "--no-first-run",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      // Several pages play video at once: none of them may be throttled as a background tab.
      "--disable-background-timer-throttling",
      "--disable-renderer-backgrounding",
      "--disable-backgrounding-occluded-windows",
    ],
    viewport: { width: 1280, height: 800 },
  });
  await context.addInitScript(installFrameCounter);
  await context.addInitScript(installCutOff);
  await context.addInitScript(installTrackRecorder);
  const pages = {};
  const logs = [];
  const open = async (name, path) => {
    const page = await context.newPage();
    page.on("console", (message) => logs.push(`${name} ${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => logs.push(`${name} pageerror: ${error.message}`));
    page.on("dialog", (dialog) => void dialog.accept());
    pages[name] = page;
    await page.goto(`${BASE_URL}${path}`);
    return page;
  };
  let failed = false;
  try {
    say(`room ${ROOM}; screenshots of failures go to ${OUT_DIR}`);
    await play(open, logs);
  } catch (error) {
    failed = true;
    console.error(`FAILED: ${error instanceof Error ? error.stack : error}`);
    mkdirSync(OUT_DIR, { recursive: true });
    for (const [name, page] of Object.entries(pages)) {
      await page.screenshot({ path: join(OUT_DIR, `failure-${name}.png`) }).catch(() => undefined);
    }
    writeFileSync(join(OUT_DIR, "console.log"), logs.join("\n") + "\n");
    console.error(`screenshots of every page and the pages' console are in ${OUT_DIR}`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

/** LiveKit's own view of `identity` in the room (its RoomService's ListParticipants, over Twirp
 * JSON with the room's admin token): its tracks and permission as LiveKit holds them. */
export async function onLiveKit(identity) {
  const url = `${LIVEKIT_URL.replace(/^ws/, "http")}/twirp/livekit.RoomService/ListParticipants`;
  const answer = await fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ room: ROOM }),
  });
  if (!answer.ok) throw new Error(`LiveKit's ListParticipants answered ${answer.status}: ${await answer.text()}`);
  const { participants = [] } = await answer.json();
  return participants.find((p) => p.identity === identity);
}

/** Resolves once LiveKit's view of `identity` satisfies `holds`; fails saying what LiveKit showed. */
export async function livekitShows(identity, what, holds) {
  const until = Date.now() + STEP_MS;
  let seen;
  while (Date.now() < until) {
    seen = await onLiveKit(identity);
    if (seen && holds(seen)) return seen;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`LiveKit never showed ${identity} ${what}; it showed ${JSON.stringify(seen)}`);
}

/** A picture of the page for the README, when SCREENSHOTS_DIR is set. */
export async function picture(page, name) {
  if (!SCREENSHOTS_DIR) return;
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS_DIR, `${name}.png`) });
}

/** The host `hostName` opens the show and lets the audience in; the viewer `name` joins and sees
 * the host. Resolves to both pages. */
export async function liveWithViewer(open, hostName, name) {
  const host = await goLive(open, hostName);
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const viewer = await open(name, `/watch/${ROOM}#name=${name}`);
  await viewer.click("#join button[type=submit]");
  await seesVideo(viewer, hostName);
  return { host, viewer };
}

/** Opens the studio as the host `name` with the admin token (and `settings`, more of the URL
 * fragment, e.g. "pageSize=1") and goes live; resolves once its camera plays. */
export async function goLive(open, name, settings = "") {
  const host = await open("host", `/studio/${ROOM}#name=${name}&admin=${ADMIN_TOKEN}${settings ? `&${settings}` : ""}`);
  await host.click("#go-live button[type=submit]");
  await seesVideo(host, name);
  return host;
}
