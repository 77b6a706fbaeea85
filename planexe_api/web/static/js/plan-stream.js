// A plan's event stream (Server-Sent Events), read with fetch rather than EventSource:
// EventSource only delivers named events to a listener per name (a new kind would be
// lost), cannot tell a finished stream (204) from a broken one, and reconnects on its own
// schedule. Here every event is delivered once, in order, by its id:
//   - each (re)connection sends Last-Event-ID: <last id received>, so the service replays
//     exactly what was missed, from its database, whichever replica answers;
//   - an id at or below the last one is dropped (a replay overlapping what arrived);
//   - an id past last + 1 would be a hole: it is reported, never hidden;
//   - `end` closes the stream for good (its id is its own, one past the last event's, and is
//     not kept as the last id: a resumed plan's next event takes that number), and so does a
//     204 answer to a reconnection;
//   - a dropped connection (the service killed, a proxy timing out, no data for longer than
//     the service's keep-alive) is retried with backoff, and the gap is reported with the
//     times it began and ended.

const RETRY_MS = [500, 1000, 2000, 3000, 5000]; // then every 5 s
const STALL_MS = 45000; // the service sends a keep-alive every 15 s when quiet

export class PlanStream {
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers; // {events(list), end(status), down(info), up(info), hole(from, to), fatal(message)}
    this.lastId = 0;
    this.ended = false;
    this.running = false;
    this.failures = 0;
    this.downSince = null;
  }

  start() {
    if (this.running) return;
    this.ended = false;
    this.running = true;
    this.loop();
  }

  stop() {
    this.ended = true;
    this.controller?.abort();
  }

  async loop() {
    while (!this.ended) {
      const outcome = await this.connectOnce();
      if (this.ended || outcome === "fatal") break;
      if (this.downSince === null) {
        this.downSince = new Date();
      }
      this.handlers.down({ since: this.downSince, lastId: this.lastId, attempt: this.failures + 1, reason: outcome });
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)]));
      this.failures += 1;
    }
    this.running = false;
  }

  async connectOnce() {
    const controller = new AbortController();
    this.controller = controller;
    let stall = null;
    const armStall = () => {
      clearTimeout(stall);
      stall = setTimeout(() => controller.abort(), STALL_MS);
    };
    try {
      const headers = { Accept: "text/event-stream" };
      if (this.lastId > 0) headers["Last-Event-ID"] = String(this.lastId);
      armStall();
      const response = await fetch(this.url, { headers, signal: controller.signal, cache: "no-store", credentials: "same-origin" });
      if (response.status === 204) {
        this.finish(null);
        return "ended";
      }
      if (response.status === 401 || response.status === 404 || response.status === 400) {
        let message = `The event stream answered ${response.status}.`;
        try {
          message = (await response.json()).message || message;
        } catch (_) { /* not JSON */ }
        if (response.status === 401) message = `the session has ended; log in again at ${location.origin}/login`;
        this.handlers.fatal(message);
        this.ended = true;
        return "fatal";
      }
      if (!response.ok || !response.body) return `the service answered ${response.status}`;
      this.connected();
      await this.read(response.body, armStall);
      return this.ended ? "ended" : "the stream closed";
    } catch (err) {
      return this.ended ? "ended" : err.name === "AbortError" ? "no data for too long" : "the service is unreachable";
    } finally {
      clearTimeout(stall);
    }
  }

  connected() {
    if (this.downSince !== null) {
      this.handlers.up({ since: this.downSince, until: new Date(), lastId: this.lastId });
      this.downSince = null;
    }
    this.failures = 0;
  }

  async read(body, onData) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onData();
      buffer += value;
      const blocks = buffer.split(/\r?\n\r?\n/);
      buffer = blocks.pop();
      const batch = [];
      for (const block of blocks) {
        const event = parseBlock(block);
        if (!event) continue;
        if (event.kind === "end") {
          this.flush(batch);
          batch.length = 0;
          this.finish(event.data.status ?? null);
          await reader.cancel().catch(() => {});
          return;
        }
        if (event.id === null || event.id <= this.lastId) continue;
        if (event.id > this.lastId + 1) this.handlers.hole(this.lastId + 1, event.id - 1);
        this.lastId = event.id;
        batch.push(event);
      }
      this.flush(batch);
    }
  }

  flush(batch) {
    if (batch.length) this.handlers.events(batch.slice());
  }

  finish(status) {
    this.ended = true;
    this.handlers.end(status);
  }
}

function parseBlock(block) {
  let id = null;
  let kind = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") id = /^\d+$/.test(value) ? Number(value) : null;
    else if (field === "event") kind = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null; // e.g. the stream's "retry:" line
  try {
    return { id, kind, data: JSON.parse(data.join("\n")) };
  } catch (_) {
    return null;
  }
}
