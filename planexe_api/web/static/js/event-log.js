// The live event log: one line per event, appended a batch at a time (one DOM insertion
// per batch, however many events it holds), kept scrolled to the end while the reader is
// at the end. Connection gaps get a line of their own.
import { clock, duration } from "./format.js";

function describe(event) {
  const d = event.data;
  switch (event.kind) {
    case "run_started":
      return `run ${d.attempt ?? ""}: ${d.total} tasks, ${d.done} already done, ${d.workers} workers${d.offline ? ", offline" : ""}`;
    case "task_started":
      return d.task_attempt > 1 ? `try ${d.task_attempt}` : "started";
    case "task_succeeded":
      return `done in ${duration(d.duration_s)}`;
    case "task_failed":
    case "task_timed_out":
      return d.error || event.kind;
    case "task_retried":
      return `retry ${d.task_attempt}`;
    case "llm_call":
      if (d.cached) return `${d.model} answer reused from an earlier run (no call)`;
      return `${d.model} ${duration(d.duration_s)} ${d.prompt_tokens ?? 0}→${d.completion_tokens ?? 0} tokens${d.outcome === "ok" ? "" : ` ${d.outcome}${d.detail ? `: ${d.detail}` : ""}`}`;
    case "run_finished":
      return `${d.status}${d.reason ? `: ${d.reason}` : ""} (${duration(d.duration_s)})`;
    case "plan_finished":
      return `${d.status}${d.error ? `: ${d.error}` : ""}`;
    case "plan_running":
      return d.restored_files ? `restored ${d.restored_files} files` : "claimed by a runner";
    case "plan_rerun":
      return `regenerate ${(d.tasks || []).join(", ")}${d.feedback ? `, with feedback: ${d.feedback}` : ""}`;
    case "plan_requeued":
    case "plan_recovered":
      return [d.outcome, d.reason].filter(Boolean).join(": ");
    default:
      return "";
  }
}

export class EventLog {
  constructor(list, box, counter) {
    this.list = list;
    this.box = box;
    this.counter = counter;
    this.count = 0;
  }

  atEnd() {
    return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 40;
  }

  append(events) {
    const follow = this.atEnd();
    const batch = document.createDocumentFragment();
    for (const event of events) {
      const li = document.createElement("li");
      li.dataset.id = String(event.id);
      if (event.kind === "task_failed" || event.kind === "task_timed_out" || (event.kind === "llm_call" && event.data.outcome !== "ok")) {
        li.className = "failed";
      }
      const cells = [
        ["seq", `#${event.id}`],
        ["time", clock(event.data.ts)],
        ["kind", event.kind],
        ["text", [event.data.task, describe(event)].filter(Boolean).join(" · ")],
      ];
      for (const [cls, text] of cells) {
        const span = document.createElement("span");
        span.className = cls;
        span.textContent = text;
        li.append(span);
      }
      batch.append(li);
    }
    this.list.append(batch);
    this.count += events.length;
    this.counter.textContent = `${this.count} event${this.count === 1 ? "" : "s"}`;
    if (follow) this.box.scrollTop = this.box.scrollHeight;
  }

  note(text) {
    const follow = this.atEnd();
    const li = document.createElement("li");
    li.className = "gap";
    li.textContent = text;
    this.list.append(li);
    if (follow) this.box.scrollTop = this.box.scrollHeight;
  }
}
