// A guest whose page hears of the show's end from the service first leaves LiveKit too, and stops
// its camera and microphone. gia is on stage when her LiveKit connection stalls (her page's signal
// connection to LiveKit still open, but nothing coming from LiveKit through it), and the host ends
// the show: LiveKit's word of it never reaches her page. Her tab hidden and shown again, her page
// reads her place (GetMyPlace) as the show ENDED and says so; it leaves LiveKit as it does, so
// that her camera and microphone stop, rather than going on with no control left to stop them.
// Run by tests/test_browser_show.py.
import { ROOM, STEP_MS, goLive, hide, inBrowser, liveCaptures, livekitShows, noticeIs, noticeSays, onLiveKit, say, seesVideo } from "./browser.mjs";

/** How long after saying the show ended the page may take to stop its camera and microphone. */
const STOP_MS = 5_000;

/** Passes `page`'s connections to LiveKit through, until the returned function stalls them: from
 * then on nothing LiveKit sends reaches the page (its messages, its closing the connection), and
 * a new connection the page opens reaches nothing. */
async function stallable(page) {
  let stalled = false;
  await page.routeWebSocket(/\/rtc\//, (ws) => {
    if (stalled) return;
    const server = ws.connectToServer();
    ws.onMessage((message) => server.send(message));
    ws.onClose((code, reason) => server.close({ code, reason }));
    server.onMessage((message) => (stalled ? undefined : ws.send(message)));
    server.onClose((code, reason) => (stalled ? undefined : ws.close({ code, reason })));
  });
  return () => (stalled = true);
}

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])", { timeout: STEP_MS });
  const gia = await open("gia", `/watch/${ROOM}#name=gia`);
  const stall = await stallable(gia);
  await gia.click("#join button[type=submit]");
  await seesVideo(gia, "jane");
  await host.click('#audience li[data-identity="gia"] button.invite');
  await gia.click("#invitation:not([hidden]) button.accept", { timeout: STEP_MS });
  await seesVideo(host, "gia");
  await livekitShows("gia", "publishing her camera and microphone", (p) => (p.tracks ?? []).length === 2);
  say("gia is on stage, publishing her camera and microphone");

  stall();
  await host.click("#end-show");
  await host.click("dialog.confirm button.yes");
  await noticeSays(host, "ended", "The show has ended.");
  const captured = await liveCaptures(gia);
  if (captured.length !== 2) throw new Error(`gia's page heard LiveKit end the show through a stalled connection: it captures ${JSON.stringify(captured)}`);
  say("the host ended the show while gia's connection to LiveKit stalled: her page did not hear it from LiveKit");

  const shown = await hide(gia);
  await shown();
  await noticeIs(gia, "ended", "The show has ended.");
  say("her tab hidden and shown again, gia's page read the show as ended from the service, and says so");
  await gia.waitForFunction(() => window.capturedTracks.every((track) => track.readyState !== "live"), null, { timeout: STOP_MS }).catch(async () => {
    throw new Error(`${STOP_MS / 1000} s after saying the show ended, gia's page still captures ${JSON.stringify(await liveCaptures(gia))}`);
  });
  const seen = await onLiveKit("gia").catch(() => undefined);
  if (seen) throw new Error(`after the show ended gia is still in LiveKit's room: ${JSON.stringify(seen)}`);
  say("her page left LiveKit: its camera and microphone stopped, and LiveKit lists her nowhere");
});
