// A viewer's raised hand and an invitation waiting for another survive a reload: mary raises her
// hand before john, reloads her page and joins again; her page still says "Lower hand" and the
// host's queue still has her first, ahead of john. ann, invited by jane, reloads too, sees the
// invitation again, from jane still (JoinRoom says who sent it), and accepts it. The service keeps
// both for its reconnect grace window (30 s here). The studio reads the queue one hand a page
// (#pageSize=1): it shows mary and "and 1 more", and Show more brings john, both pages then kept as
// the queue changes. Run by tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, inBrowser, say, seesVideo } from "./browser.mjs";

/** The identities in the host's queue of raised hands, in its order. */
async function queue(host) {
  return host.evaluate(() => [...document.querySelectorAll("#hand-queue li[data-identity]")].map((li) => li.dataset.identity));
}

async function queueIs(host, expected) {
  await host.waitForFunction(
    (want) => JSON.stringify([...document.querySelectorAll("#hand-queue li[data-identity]")].map((li) => li.dataset.identity)) === want,
    JSON.stringify(expected),
    { timeout: STEP_MS },
  ).catch(async () => {
    throw new Error(`expected the host's queue to be ${JSON.stringify(expected)}, it is ${JSON.stringify(await queue(host))}`);
  });
}

// The line under the host's queue ("and N more" and Show more), while it shows.
const MORE = "#hand-queue + .more:not([hidden]) span";

/** Waits until the line under the host's queue says `expected` ("" once it is hidden: no more hands). */
async function moreIs(host, expected) {
  const says = (selector) => document.querySelector(selector)?.textContent ?? "";
  await host.waitForFunction(([selector, want]) => (document.querySelector(selector)?.textContent ?? "") === want, [MORE, expected], { timeout: STEP_MS }).catch(async () => {
    throw new Error(`expected the line under the queue to say ${JSON.stringify(expected)}, it says ${JSON.stringify(await host.evaluate(says, MORE))}`);
  });
}

async function invitationSays(page, text) {
  await page.waitForFunction((t) => document.querySelector("#invitation:not([hidden]) p")?.textContent?.startsWith(t), text, { timeout: STEP_MS }).catch(async () => {
    throw new Error(`expected the invitation to say ${JSON.stringify(text)}, it says ${JSON.stringify(await page.textContent("#invitation"))}`);
  });
}

async function handSays(page, text) {
  await page.waitForFunction((t) => document.querySelector("#hand:not([hidden])")?.textContent === t, text, { timeout: STEP_MS });
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane", "pageSize=1");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const viewers = {};
  for (const name of ["mary", "john", "ann"]) {
    viewers[name] = await open(name, `/watch/${ROOM}#name=${name}`);
    await viewers[name].click("#join button[type=submit]");
    await seesVideo(viewers[name], "jane");
  }
  const { mary, john, ann } = viewers;
  for (const viewer of [mary, john]) {
    await viewer.click("#hand");
    await handSays(viewer, "Lower hand");
  }
  await queueIs(host, ["mary"]);
  await moreIs(host, "and 1 more");
  say("mary then john raised their hands; the host's queue, a hand a page, shows mary and says 1 more");
  await host.click("#hand-queue + .more button");
  await queueIs(host, ["mary", "john"]);
  await moreIs(host, "");
  say("the host clicked Show more: the queue has mary then john, and nothing more");

  await mary.reload();
  await mary.click("#join button[type=submit]");
  await seesVideo(mary, "jane");
  await handSays(mary, "Lower hand");
  await queueIs(host, ["mary", "john"]);
  say("mary reloaded her page and joined again: it still says Lower hand, and the host's queue still has her first");

  await host.click('#audience li[data-identity="ann"] button');
  await ann.waitForSelector("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  await invitationSays(ann, "jane invites you on stage.");
  await ann.reload();
  await ann.click("#join button[type=submit]");
  await invitationSays(ann, "jane invites you on stage.");
  await ann.click("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  await ann.waitForSelector("#on-stage-badge:not([hidden])", { timeout: STEP_MS });
  await seesVideo(host, "ann");
  say("ann reloaded with jane's invitation waiting: her page showed it again, from jane, and she went on stage");

  // The host's queue was read again after both reloads (a promotion refreshes it): mary is still first.
  await queueIs(host, ["mary", "john"]);
  await mary.click("#hand");
  await handSays(mary, "Raise hand");
  await queueIs(host, ["john"]);
  say("the host's queue still had mary first; she lowered her hand and it followed");
});
