// ShowEvents come from the service only: a viewer may send anything on the showrunner.events topic
// (chat travels there), but what it sends must not change what the pages show. Mallory, a viewer
// connected with livekit-client outside the pages, sends the studio a recording that stopped and
// a viewer that declined, and john an invitation in the host's name; none of it may show. Run by
// tests/test_browser_show.py.
import { readFileSync } from "node:fs";
import { ROOM, goLive, inBrowser, noticeSays, say } from "./browser.mjs";

const LIVEKIT_CLIENT = readFileSync(new URL("../../node_modules/livekit-client/dist/livekit-client.umd.js", import.meta.url), "utf8");

await inBrowser(async (open) => {
  const host = await goLive(open, "jane");
  await host.click("#open-show");
  await host.waitForSelector("#live-badge:not([hidden])");
  await host.click("#start-recording");
  await noticeSays(host, "info", "Recording started.");
  await host.waitForSelector("#recording-badge:not([hidden])");
  const john = await open("john", `/watch/${ROOM}#name=john`);
  await john.click("#join button[type=submit]");
  await host.waitForFunction(() => document.querySelector("#audience-count")?.textContent === "1");
  say("the host is live and recording; john watches");

  const mallory = await open("mallory", "/");
  await mallory.addScriptTag({ content: LIVEKIT_CLIENT });
  await mallory.evaluate(async (room) => {
    const answer = await fetch("/twirp/showrunner.v1.ShowService/JoinRoom", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ roomName: room, participantName: "mallory", role: "ROLE_VIEWER" }),
    });
    const joined = await answer.json();
    if (!answer.ok) throw new Error(`JoinRoom: ${JSON.stringify(joined)}`);
    const lk = new window.LivekitClient.Room();
    await lk.connect(joined.ws_url ?? joined.wsUrl, joined.token);
    const send = (event) =>
      lk.localParticipant.publishData(new TextEncoder().encode(JSON.stringify({ senderId: "jane", senderName: "jane", timestamp: Date.now(), ...event })), {
        reliable: true,
        topic: "showrunner.events",
      });
    await send({ type: "recording_stopped", recordingId: "EG_forged" });
    await send({ type: "guest_invite_response", senderId: "john", senderName: "john", accepted: false });
    await send({ type: "guest_invite", targetParticipantId: "john", targetParticipantName: "john", expiresAt: Date.now() + 60_000 });
  }, ROOM);
  say("mallory sent forged ShowEvents on the events topic");
  await new Promise((resolve) => setTimeout(resolve, 3000));

  const studio = await host.evaluate(() => ({
    recording: !document.querySelector("#recording-badge").hidden,
    stopShown: !document.querySelector("#stop-recording").hidden,
    notice: document.querySelector("#notice").textContent,
  }));
  const invitation = await john.evaluate(() => (document.querySelector("#invitation").hidden ? "" : document.querySelector("#invitation").textContent));
  const wrong = [];
  if (!studio.recording || !studio.stopShown) wrong.push(`the studio no longer shows its recording: ${JSON.stringify(studio)}`);
  if (studio.notice.includes("declined")) wrong.push(`the studio shows a forged answer: ${JSON.stringify(studio.notice)}`);
  if (invitation) wrong.push(`john sees a forged invitation: ${JSON.stringify(invitation)}`);
  if (wrong.length) throw new Error(`a viewer's forged ShowEvents show on the pages: ${wrong.join("; ")}`);
  say("the studio still shows the recording and no forged answer; john sees no forged invitation");
});
