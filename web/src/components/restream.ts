/**
 * The host's Restream panel in the studio: the destinations configured on the service, by name
 * (ListStreams' availableDestinations; their URLs and stream keys never leave the service), a
 * checkbox each, Go out (StartStream with the checked ones) and, while a stream runs, Stop
 * restream. While it runs, checking a destination adds it and unchecking one removes it
 * (UpdateStream); the last one is disabled, since the service refuses to remove it (the stream is
 * stopped instead). Beside them the stream's state as LiveKit's egress last reported it (a
 * failure with the service's error, already redacted), and the header's OUT badge while it is
 * live. With no destination configured the panel says so and offers nothing.
 *
 * The service tells the host and the moderators each state a stream reaches (the stream_* ShowEvents:
 * started, its destinations changed, live, ending, ended), whoever moved it: its own calls, the
 * room's admin, LiveKit's egress. The panel reads ListStreams when the host comes in (a reload
 * mid-stream finds it), after each of its own calls and on each of those events, so it follows
 * the stream as it goes without asking, and again when the studio comes back from a dropped
 * connection or a hidden tab (the studio's onReturn). Events are reliable only while the page is
 * connected, so it also reads on a timer should the one that moves the stream on be lost: every
 * 30 seconds while a stream is starting or ending (a wait of seconds, whose end the host is
 * watching for), every 60 seconds while it is live: a lost stream_ended would otherwise leave it
 * saying "live" until a reload. A stream lasts as long as the show, and its end is told by the
 * event within a second whenever the page is connected, so this read only mends a rare loss: a
 * minute is soon enough for that, and costs the service one small read (the room's record, never
 * LiveKit) a minute per studio streaming. Never while it is over, nor when no destination is
 * configured.
 */
import { EgressStatus, type ShowEvent, type ShowServiceClient, type Stream, refusal } from "../api";
import { type Notice, onPress } from "./notice";

/** How often the panel reads a stream that is starting or ending, should its next event be lost. */
const FALLBACK_MS = 30_000;
/** How often the panel reads a live stream, should the event that ends it be lost. */
const LIVE_CHECK_MS = 60_000;

/** Where the studio shows the panel. */
export interface RestreamView {
  none: HTMLElement; // says that no destination is configured
  destinations: HTMLUListElement;
  state: HTMLElement;
  last: HTMLElement; // why the last destination of a running stream cannot be unchecked
  goOut: HTMLButtonElement;
  stop: HTMLButtonElement;
  badge: HTMLElement; // OUT in the header
}

/** A stream LiveKit's egress has not finished with: starting, live or ending. */
function running(stream: Stream | undefined): boolean {
  return !!stream && stream.endedAt === 0 && stream.status <= EgressStatus.EGRESS_ENDING;
}

/** A stream on its way to a state whose event is still to come: starting or ending. */
function transitional(stream: Stream | undefined): boolean {
  return !!stream && running(stream) && stream.status !== EgressStatus.EGRESS_ACTIVE;
}

/** The stream's state as the panel shows it: a word for tests and styles, and its text. */
function stateOf(stream: Stream): { state: string; text: string } {
  switch (stream.status) {
    case EgressStatus.EGRESS_STARTING:
      return { state: "starting", text: "Starting…" };
    case EgressStatus.EGRESS_ACTIVE:
      return { state: "live", text: `Live to ${stream.destinations.join(", ")}` };
    case EgressStatus.EGRESS_ENDING:
      return { state: "ending", text: "Ending…" };
    case EgressStatus.EGRESS_COMPLETE:
      return { state: "ended", text: "Ended" };
    case EgressStatus.EGRESS_LIMIT_REACHED:
      return { state: "ended", text: `Ended: ${stream.error || "LiveKit's time limit was reached"}` };
    default:
      return { state: "failed", text: stream.error ? `Failed: ${stream.error}` : "Failed" };
  }
}

export class Restream {
  private available: readonly string[] = [];
  private known = false; // ListStreams has answered once
  private stream: Stream | undefined; // the newest, running or not
  private readonly chosen = new Set<string>(); // checked for the next Go out
  private readonly boxes = new Map<string, HTMLInputElement>();
  private busy = false; // one of the panel's own calls is running
  private reads = 0; // the newest read is the one shown
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `show` is the host's client, or undefined once the page acts for nobody (the show over). */
  constructor(
    private readonly roomName: string,
    private readonly notice: Notice,
    private readonly show: () => ShowServiceClient | undefined,
    private readonly view: RestreamView,
  ) {
    onPress(view.goOut, () => void this.goOut());
    onPress(view.stop, () => void this.stopStream());
    this.render();
  }

  /** Reads the room's streams and the destinations, shows them, and reads again after a while if
   * a stream is running (sooner while it is starting or ending). */
  async refresh(): Promise<void> {
    clearTimeout(this.timer);
    const show = this.show();
    if (!show) return;
    const read = ++this.reads;
    try {
      const { response } = await show.listStreams({ roomName: this.roomName });
      // A newer read, or one of the panel's calls, overtook it; or the show ended meanwhile.
      if (read !== this.reads || !this.show()) return;
      this.take(response.availableDestinations, response.streams[0]);
    } catch (error) {
      if (read === this.reads && this.show()) this.notice.show("error", refusal(error));
    }
    if (read === this.reads) this.poll();
  }

  /** Follows the service's ShowEvents: a stream's own (stream_*) reads the streams again. */
  follow(event: ShowEvent): void {
    if (event.type.startsWith("stream_") && this.available.length) void this.refresh();
  }

  private poll(): void {
    clearTimeout(this.timer);
    if (!this.available.length || !running(this.stream) || !this.show()) return;
    this.timer = setTimeout(() => void this.refresh(), transitional(this.stream) ? FALLBACK_MS : LIVE_CHECK_MS);
  }

  private take(available: readonly string[], stream: Stream | undefined): void {
    if (running(this.stream) && !running(stream) && stream) {
      // The next Go out starts with where this stream went last.
      this.chosen.clear();
      for (const name of stream.destinations) this.chosen.add(name);
    }
    if (available.join("\n") !== this.available.join("\n")) this.list(available);
    this.available = available;
    this.known = true;
    this.stream = stream;
    this.render();
  }

  /** One checkbox per configured destination, made again only when the names change. */
  private list(available: readonly string[]): void {
    this.boxes.clear();
    this.view.destinations.replaceChildren(
      ...available.map((name) => {
        const item = document.createElement("li");
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.name = "destination";
        box.value = name;
        box.addEventListener("change", () => void this.toggle(name, box.checked));
        label.append(box, document.createTextNode(name));
        item.append(label);
        this.boxes.set(name, box);
        return item;
      }),
    );
  }

  private render(): void {
    const { none, destinations, state, last, goOut, stop, badge } = this.view;
    const configured = this.available.length > 0;
    const live = this.stream && running(this.stream) ? this.stream : undefined;
    none.hidden = !this.known || configured;
    destinations.hidden = !configured;
    goOut.hidden = !configured || !!live;
    stop.hidden = !configured || !live;
    goOut.disabled = this.busy || !this.available.some((name) => this.chosen.has(name));
    stop.disabled = this.busy;
    for (const [name, box] of this.boxes) {
      // While a call runs, a box keeps the host's click; the read after it sets every box.
      if (!this.busy) box.checked = live ? live.destinations.includes(name) : this.chosen.has(name);
      box.disabled = this.busy || (!!live && box.checked && live.destinations.length === 1);
    }
    last.hidden = !live || live.destinations.length !== 1;
    const shown = configured && this.stream ? stateOf(this.stream) : undefined;
    state.hidden = !shown;
    state.textContent = shown?.text ?? "";
    if (shown) state.dataset["state"] = shown.state;
    else delete state.dataset["state"];
    badge.hidden = !live || live.status !== EgressStatus.EGRESS_ACTIVE;
  }

  /** Runs one of the panel's calls, shows the service's answer or refusal, and reads again. */
  private async call(action: (show: ShowServiceClient) => Promise<string>): Promise<void> {
    const show = this.show();
    if (!show || this.busy) return;
    this.busy = true;
    this.reads++; // a read already under way may answer from before this call
    this.render();
    try {
      this.notice.show("info", await action(show));
    } catch (error) {
      this.notice.show("error", refusal(error));
    } finally {
      this.busy = false;
    }
    await this.refresh();
  }

  private async toggle(name: string, on: boolean): Promise<void> {
    if (!running(this.stream)) {
      if (on) this.chosen.add(name);
      else this.chosen.delete(name);
      this.render();
      return;
    }
    await this.call(async (show) => {
      await show.updateStream({ roomName: this.roomName, addDestinations: on ? [name] : [], removeDestinations: on ? [] : [name] });
      return on ? `Restreaming to ${name} too.` : `Stopped restreaming to ${name}.`;
    });
  }

  private async goOut(): Promise<void> {
    const destinations = this.available.filter((name) => this.chosen.has(name));
    await this.call(async (show) => {
      await show.startStream({ roomName: this.roomName, destinations });
      return `Going out to ${destinations.join(", ")}.`;
    });
  }

  private async stopStream(): Promise<void> {
    await this.call(async (show) => {
      await show.stopStream({ roomName: this.roomName });
      return "The restream is stopping.";
    });
  }
}
