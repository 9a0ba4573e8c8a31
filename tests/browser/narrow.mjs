// The pages on a phone, 375 px wide: the studio live with a guest on stage and a raised hand, the
// guest's page, a moderator's page and a waiting viewer's; on none of them does anything run past
// the screen's edge, nor does any button, badge or name cover another, nor does any of the stage
// manager's buttons on the guest's tile lie on the guest's video. Run by
// tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, inBrowser, say, seesVideo } from "./browser.mjs";

const PHONE = { width: 375, height: 740 };

/** What on the page runs past the screen's right or left edge, or covers something beside it. */
function misfits() {
  const width = document.documentElement.clientWidth;
  const shown = (element) => element.getClientRects().length > 0 && getComputedStyle(element).visibility !== "hidden";
  const past = [...document.querySelectorAll("body *")]
    .filter(shown)
    .map((element) => [element, element.getBoundingClientRect()])
    .filter(([, box]) => box.right > width + 0.5 || box.left < -0.5)
    .map(([element, box]) => `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ""}.${element.className} runs from ${Math.round(box.left)} to ${Math.round(box.right)} px`);
  // Buttons, badges and names side by side: none may cover another.
  const parts = [...document.querySelectorAll("button, .badge, .brand, .where, .who, .count, figcaption, time, .more span")].filter(shown);
  const covering = [];
  for (const [i, a] of parts.entries()) {
    for (const b of parts.slice(i + 1)) {
      if (a.contains(b) || b.contains(a)) continue;
      const [p, q] = [a.getBoundingClientRect(), b.getBoundingClientRect()];
      const overlap = Math.min(p.right, q.right) - Math.max(p.left, q.left) > 1 && Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top) > 1;
      // The stage manager's buttons lie on the video, above the caption: within a tile only the
      // buttons and the caption must not meet.
      if (overlap) covering.push(`"${a.textContent.trim().slice(0, 30)}" covers "${b.textContent.trim().slice(0, 30)}"`);
    }
  }
  return [...past, ...covering];
}

/** The buttons on `identity`'s tile that lie on its video. */
function onTheVideo(identity) {
  const video = document.querySelector(`.tile[data-identity="${identity}"] video`).getBoundingClientRect();
  return [...document.querySelectorAll(`.tile[data-identity="${identity}"] .tile-actions button`)]
    .filter((button) => {
      const box = button.getBoundingClientRect();
      return Math.min(box.right, video.right) - Math.max(box.left, video.left) > 1 && Math.min(box.bottom, video.bottom) - Math.max(box.top, video.top) > 1;
    })
    .map((button) => button.textContent);
}

/** Fails unless `page` shows a stage manager's buttons on `identity`'s tile, none of them on its video. */
async function videoClear(page, identity, what) {
  const buttons = await page.locator(`.tile[data-identity="${identity}"] .tile-actions button`).count();
  const covering = await page.evaluate(onTheVideo, identity);
  if (!buttons || covering.length) throw new Error(`${what} at 375 px: ${buttons} buttons on ${identity}'s tile, ${covering.join(", ") || "none"} on the video`);
}

async function fits(page, what) {
  await page.waitForTimeout(300); // the last redraw
  const found = await page.evaluate(misfits);
  if (found.length) throw new Error(`${what} at 375 px: ${found.slice(0, 8).join("; ")}`);
}

await inBrowser(async (open) => {
  const narrow = async (name, path) => {
    const page = await open(name, path);
    await page.setViewportSize(PHONE);
    return page;
  };
  const host = await goLive(narrow, "jane");
  await fits(host, "the studio backstage");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const viewers = {};
  for (const name of ["gia", "moe", "zoe"]) {
    viewers[name] = await narrow(name, `/watch/${ROOM}#name=${name}`);
    await viewers[name].click("#join button[type=submit]");
    await seesVideo(viewers[name], "jane");
  }
  const { gia, moe, zoe } = viewers;
  await host.click('#audience li[data-identity="moe"] button.appoint');
  await moe.waitForSelector("#moderation:not([hidden])", { timeout: STEP_MS });
  await gia.click("#hand");
  await host.click('#hand-queue li[data-identity="gia"] button');
  await Promise.all([seesVideo(host, "gia"), seesVideo(moe, "gia")]);
  await zoe.click("#hand");
  await host.waitForSelector('#hand-queue li[data-identity="zoe"]', { timeout: STEP_MS });
  await host.click("#start-recording");
  await host.waitForSelector("#recording-badge:not([hidden])", { timeout: STEP_MS });
  await moe.waitForSelector('.tile[data-identity="gia"] button.demote', { timeout: STEP_MS });
  await fits(host, "the studio live, recording, with a guest and a raised hand");
  await videoClear(host, "gia", "the studio");
  await videoClear(moe, "gia", "the moderator's page");
  await fits(gia, "the guest's page");
  await fits(moe, "the moderator's page");
  await fits(zoe, "a viewer's page with a raised hand");
  say("at 375 px the studio, the guest's, the moderator's and a viewer's pages fit the screen, the guest's video clear of the host's and the moderator's buttons");
});
