// The server-rendered parts of the plan page that change while it runs (facts with the
// ETA, usage, files, failure): fetched again from /plans/{id}/view/<part>, each at most
// once a second, never two requests for one part at a time. The elapsed time ticks here.
import { fragment } from "./api.js";
import { duration } from "./format.js";

const MIN_INTERVAL_MS = 1000;
const TERMINAL = new Set(["completed", "failed", "cancelled", "refused"]);
// A refused plan has a report too: the refusal and its reason.
const HAS_REPORT = new Set(["completed", "refused"]);

export class PlanParts {
  constructor(root, planId, onStatus) {
    this.root = root;
    this.planId = planId;
    this.onStatus = onStatus;
    this.status = root.dataset.status;
    this.parts = new Map(); // name -> {busy, again, last}
    this.applyStatus(this.status, true);
    setInterval(() => this.tick(), 1000);
  }

  refresh(...names) {
    for (const name of names) {
      let part = this.parts.get(name);
      if (!part) {
        part = { busy: false, again: false, last: 0, timer: null };
        this.parts.set(name, part);
      }
      if (part.busy) {
        part.again = true;
        continue;
      }
      if (part.timer) continue;
      const wait = Math.max(0, part.last + MIN_INTERVAL_MS - Date.now());
      part.timer = setTimeout(() => this.load(name, part), wait);
    }
  }

  async load(name, part) {
    part.timer = null;
    part.busy = true;
    part.last = Date.now();
    try {
      const { html } = await fragment(`/plans/${this.planId}/view/${name}`);
      const target = document.getElementById(`plan-${name}`);
      if (target && target.innerHTML !== html) target.innerHTML = html;
      if (name === "facts") {
        const facts = target.querySelector(".facts");
        this.applyStatus(facts.dataset.status, false, facts.dataset.cancelRequested === "true");
      }
    } catch (_) {
      // The connection banner says the service is away; this part comes back with the stream.
    } finally {
      part.busy = false;
      if (part.again) {
        part.again = false;
        this.refresh(name);
      }
    }
  }

  applyStatus(status, initial, cancelRequested = false) {
    const changed = status !== this.status;
    this.status = status;
    this.root.dataset.status = status;
    const cancel = this.root.querySelector('form[data-action="cancel"]');
    const resume = this.root.querySelector('form[data-action="resume"]');
    if (cancel) cancel.hidden = !(status === "queued" || (status === "running" && !cancelRequested));
    if (resume) resume.hidden = !(status === "failed" || status === "cancelled");
    document.getElementById("report-download").hidden = !HAS_REPORT.has(status);
    document.getElementById("report-section").hidden = !HAS_REPORT.has(status);
    if (changed && !initial) {
      document.getElementById("status-announcer").textContent = `The plan is ${status}.`;
      this.onStatus?.(status);
    }
  }

  get terminal() {
    return TERMINAL.has(this.status);
  }

  tick() {
    const facts = document.querySelector("#plan-facts .facts");
    const elapsed = document.getElementById("plan-elapsed");
    if (!facts || !elapsed || !facts.dataset.started || facts.dataset.finished) return;
    elapsed.textContent = duration((Date.now() - Date.parse(facts.dataset.started)) / 1000);
  }
}
