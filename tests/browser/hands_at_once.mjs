// A "raise your hand if..." moment: the studio is live, reading its queue 25 hands a page
// (#pageSize=25), and 40 viewers, each really connected to LiveKit (the test connects them with
// the livekit Python SDK and passes their tokens in VIEWERS), raise their hands all at once. The
// studio's queue ends showing the first 25 of them and "and 15 more", and Show more brings the
// rest, the queue then in the order the service answers; all the while the page asked
// ListRaisedHands far fewer times than there were raises: it paces its reads of the queue
// (web/src/components/coalesced.ts) rather than reading it again for each hand. Run by
// tests/test_browser_show.py.
import { ADMIN_TOKEN, BASE_URL, ROOM, STEP_MS, goLive, inBrowser, say } from "./browser.mjs";

const viewers = JSON.parse(process.env.VIEWERS); // identity → the token JoinRoom gave that viewer
const raises = Object.keys(viewers).length;
const PAGE = 25;
/** The least time between the starts of two reads of the queue that follow events (PACE_MS in web/src/components/coalesced.ts). */
const PACE_MS = 250;

/** The identities in the host's queue of raised hands, in its order. */
const shownQueue = (host) => host.evaluate(() => [...document.querySelectorAll("#hand-queue li[data-identity]")].map((li) => li.dataset.identity));

/** The line under the host's queue ("" once it is hidden: no more hands). */
const moreLine = (host) => host.evaluate(() => document.querySelector("#hand-queue + .more:not([hidden]) span")?.textContent ?? "");

async function queueShows(host, count, more) {
  await host
    .waitForFunction(
      ([want, line]) =>
        document.querySelectorAll("#hand-queue li[data-identity]").length === want &&
        (document.querySelector("#hand-queue + .more:not([hidden]) span")?.textContent ?? "") === line,
      [count, more],
      { timeout: STEP_MS },
    )
    .catch(async () => {
      throw new Error(`expected the queue to show ${count} hands and ${JSON.stringify(more)}, it shows ${(await shownQueue(host)).length} and ${JSON.stringify(await moreLine(host))}`);
    });
}

/** The whole queue as the service answers it, read with the room's admin token. */
async function serviceQueue() {
  const answer = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/ListRaisedHands`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ roomName: ROOM }),
  });
  if (!answer.ok) throw new Error(`ListRaisedHands: ${answer.status} ${await answer.text()}`);
  return ((await answer.json()).hands ?? []).map((hand) => hand.identity);
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane", `pageSize=${PAGE}`);
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  await host.waitForFunction((n) => document.querySelector("#audience-count")?.textContent === String(n), raises, { timeout: STEP_MS });
  await host.waitForFunction(() => document.querySelector("#hand-queue")?.textContent === "No hands raised.", null, { timeout: STEP_MS });
  say(`the host is live with ${raises} viewers watching and no hands raised`);

  const reads = [];
  host.on("request", (request) => {
    if (request.url().endsWith("/twirp/showrunner.v1.ShowService/ListRaisedHands")) reads.push(request);
  });
  const raised = await Promise.all(
    Object.entries(viewers).map(async ([identity, token]) => {
      const answer = await fetch(`${BASE_URL}/twirp/showrunner.v1.ShowService/SetHandRaised`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ roomName: ROOM, participantIdentity: identity, raised: true }),
      });
      if (!answer.ok) throw new Error(`${identity}'s SetHandRaised: ${answer.status} ${await answer.text()}`);
      return (await answer.json()).hand_raised;
    }),
  );
  if (!raised.every(Boolean)) throw new Error(`not every hand went up: ${JSON.stringify(raised)}`);
  say(`${raises} viewers raised their hands at once`);

  await queueShows(host, PAGE, `and ${raises - PAGE} more`);
  // Whatever the burst still brings (its last events, the read that follows them) is counted too.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await queueShows(host, PAGE, `and ${raises - PAGE} more`);
  say(`the studio's queue shows ${PAGE} hands and "and ${raises - PAGE} more", after ${reads.length} reads of the queue for ${raises} raises`);
  // Paced: however long the burst lasts on this machine, the reads' starts (the browser's own
  // clock) are a pace apart, less a little for the page's own work before each request.
  const starts = reads.map((request) => request.timing().startTime).sort((a, b) => a - b);
  const gaps = starts.slice(1).map((start, i) => Math.round(start - starts[i]));
  if (reads.length >= raises || gaps.some((gap) => gap < PACE_MS - 50)) {
    throw new Error(`the studio read the queue ${reads.length} times for ${raises} raises, ms apart: ${gaps.join(", ")}: not paced`);
  }

  await host.click("#hand-queue + .more button");
  await queueShows(host, raises, "");
  const expected = await serviceQueue();
  const shown = await shownQueue(host);
  if (JSON.stringify(shown) !== JSON.stringify(expected)) throw new Error(`the studio's queue is ${JSON.stringify(shown)}, the service's ${JSON.stringify(expected)}`);
  if ([...shown].sort().join() !== Object.keys(viewers).sort().join()) throw new Error(`the queue does not hold every viewer who raised: ${JSON.stringify(shown)}`);
  say("Show more brought the rest: the studio shows every raised hand, in the service's order");
});
