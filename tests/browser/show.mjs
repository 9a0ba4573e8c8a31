// One whole show in Debian's chromium, driven by playwright-core: the host goes live, two viewers
// watch, one raises a hand and is brought on stage, the other is invited and accepts, the host
// sends guests back and ends the show. Run by tests/test_browser_show.py, which starts LiveKit and
// the service and passes BASE_URL, ROOM, ADMIN_TOKEN, OUT_DIR (failure screenshots, logs) and
// SCREENSHOTS_DIR (the README's pictures) in the environment. Exits non-zero on the first failure.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const { BASE_URL, ROOM, ADMIN_TOKEN, OUT_DIR, SCREENSHOTS_DIR } = process.env;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const STEP_MS = 25_000;
const started = Date.now();

function say(text) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${text}`);
}

/** Resolves once the tile of `identity` shows live video: frames decoded, and still coming. */
async function seesVideo(page, identity) {
  const frames = () =>
    page.evaluate((id) => {
      const video = document.querySelector(`.tile[data-identity="${id}"] video`);
      return video ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
    }, identity);
  await page.waitForFunction(
    (id) => {
      const video = document.querySelector(`.tile[data-identity="${id}"] video`);
      return !!video && video.readyState >= 2 && video.getVideoPlaybackQuality().totalVideoFrames > 0;
    },
    identity,
    { timeout: STEP_MS },
  );
  const first = await frames();
  await page.waitForFunction(
    ([id, seen]) => {
      const video = document.querySelector(`.tile[data-identity="${id}"] video`);
      return !!video && video.getVideoPlaybackQuality().totalVideoFrames > seen;
    },
    [identity, first],
    { timeout: STEP_MS },
  );
}

async function seesNoVideo(page, identity) {
  await page.waitForSelector(`.tile[data-identity="${identity}"]`, { state: "detached", timeout: STEP_MS });
}

async function seesEnd(page) {
  await page.waitForSelector('#notice[data-tone="ended"]', { timeout: STEP_MS });
  const text = await page.textContent("#notice");
  if (text !== "The show has ended.") throw new Error(`expected "The show has ended.", the page says ${JSON.stringify(text)}`);
}

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
    // Three pages play video at once: none of them may be throttled as a background tab.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
  ],
  viewport: { width: 1280, height: 800 },
});
const pages = {};
const logs = [];

async function open(name, path) {
  const page = await context.newPage();
  page.on("console", (message) => logs.push(`${name} ${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => logs.push(`${name} pageerror: ${error.message}`));
  page.on("dialog", (dialog) => void dialog.accept());
  pages[name] = page;
  await page.goto(`${BASE_URL}${path}`);
  return page;
}

async function picture(page, name) {
  if (!SCREENSHOTS_DIR) return;
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS_DIR, `${name}.png`) });
}

let failed = false;
try {
  say(`room ${ROOM}; screenshots of failures go to ${OUT_DIR}`);
  // The audience arrives before the host: the stage says the show has not started.
  const john = await open("john", `/watch/${ROOM}#name=john`);
  const mary = await open("mary", `/watch/${ROOM}#name=mary`);
  await john.fill("#join input[name=name]", "john doe");
  await john.click("#join button[type=submit]");
  await john.waitForSelector('#notice[data-tone="error"]', { timeout: STEP_MS });
  const refusal = await john.textContent("#notice");
  if (!refusal?.startsWith("participantName must be 1 to 128 characters")) throw new Error(`expected the service's refusal, the page says ${JSON.stringify(refusal)}`);
  say("a name the service refuses shows the service's message");
  await john.fill("#join input[name=name]", "john");
  for (const viewer of [john, mary]) await viewer.click("#join button[type=submit]");
  for (const viewer of [john, mary]) {
    await viewer.waitForFunction(() => document.querySelector(".stage-empty:not([hidden])")?.textContent?.startsWith("The show has not started yet"), null, { timeout: STEP_MS });
  }
  say("both viewers are in, and their stage says the show has not started");

  const host = await open("host", `/studio/${ROOM}#name=jane&admin=${ADMIN_TOKEN}`);
  await host.click("#go-live button[type=submit]");
  await seesVideo(host, "jane");
  say("the host is live and sees its own camera");
  await Promise.all([seesVideo(john, "jane"), seesVideo(mary, "jane")]);
  say("both viewers see the host's video playing, without a reload");
  await host.waitForFunction(() => document.querySelector("#audience-count")?.textContent === "2", null, { timeout: STEP_MS });
  say("the host's audience count says 2");

  await john.click("#hand");
  await host.waitForSelector('#hand-queue li[data-identity="john"]', { timeout: STEP_MS });
  say("john raised a hand and the host's queue shows it");

  // A raised hand is the viewer's consent: the host's invitation brings john on stage at once.
  await host.click('#hand-queue li[data-identity="john"] button');
  await john.waitForSelector("#on-stage-badge:not([hidden])", { timeout: STEP_MS });
  await Promise.all([seesVideo(host, "john"), seesVideo(mary, "john"), seesVideo(john, "john")]);
  say("john is on stage: his camera plays on the host's and mary's pages, no reload");
  await picture(mary, "watch");

  await mary.click("#hand");
  await host.waitForSelector('#hand-queue li[data-identity="mary"]', { timeout: STEP_MS });
  await picture(host, "studio");
  await mary.click("#hand");
  await host.waitForSelector('#hand-queue li[data-identity="mary"]', { state: "detached", timeout: STEP_MS });
  say("mary raised her hand and lowered it again; the host's queue followed");

  await host.click('.tile[data-identity="john"] button.demote');
  await Promise.all([seesNoVideo(host, "john"), seesNoVideo(mary, "john"), seesNoVideo(john, "john")]);
  await john.waitForSelector("#hand:not([hidden])", { timeout: STEP_MS });
  say("the host sent john back to the audience and his video is gone everywhere");

  await host.click('#audience li[data-identity="mary"] button');
  await mary.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  say("mary sees the host's invitation");
  await picture(mary, "invitation");
  await mary.click("#invitation button.accept");
  await Promise.all([seesVideo(host, "mary"), seesVideo(john, "mary")]);
  say("mary accepted: her camera plays on the host's and john's pages, no reload");

  await mary.click("#step-down");
  await Promise.all([seesNoVideo(host, "mary"), seesNoVideo(john, "mary")]);
  say("mary stepped down and her video is gone");

  await host.click("#end-show");
  await Promise.all([seesEnd(host), seesEnd(john), seesEnd(mary)]);
  say("the host ended the show and every page says so");
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
