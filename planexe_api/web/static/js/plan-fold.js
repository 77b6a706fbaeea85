// Task states and runs from the event stream, folded the way the service folds them
// (planexe_api/services/plan_trace.py), so the page and GET /plans/{id}/dag agree.

export class PlanFold {
  constructor() {
    this.tasks = new Map(); // name -> {state, spans: [{run, start, end, outcome}], calls}
    this.runs = []; // pipeline run starts, unix seconds
    this.status = null; // the plan's final status, once plan_finished arrives
    this.lastTs = null; // the newest event time seen (the service's own events carry none)
  }

  task(name) {
    let task = this.tasks.get(name);
    if (!task) {
      task = { state: "queued", spans: [], calls: 0 };
      this.tasks.set(name, task);
    }
    return task;
  }

  // Returns the names of the tasks the event changed.
  apply(event) {
    const data = event.data;
    const kind = event.kind;
    const name = data.task ? String(data.task) : "";
    const ts = typeof data.ts === "number" ? data.ts : null;
    if (ts !== null) this.lastTs = Math.max(this.lastTs ?? ts, ts);
    const changed = [];
    const close = (task, taskName, outcome) => {
      const span = task.spans[task.spans.length - 1];
      if (span && span.end === null) {
        span.end = Math.max(span.start, ts ?? this.lastTs ?? span.start);
        span.outcome = outcome;
        changed.push(taskName);
        return true;
      }
      return false;
    };
    if (kind === "run_started") {
      if (ts !== null) this.runs.push(ts);
      const done = new Set(data.done_tasks || []);
      for (const [taskName, task] of this.tasks) {
        close(task, taskName, "interrupted");
        if (!done.has(taskName) && task.state !== "queued") {
          task.state = "queued";
          changed.push(taskName);
        }
      }
      for (const taskName of done) {
        const task = this.task(taskName);
        if (task.state !== "done") {
          task.state = "done";
          task.reused = true;
          changed.push(taskName);
        }
      }
    } else if (kind === "task_started" && name) {
      const task = this.task(name);
      close(task, name, "interrupted");
      task.spans.push({ run: data.attempt || 0, start: ts ?? 0, end: null, outcome: null });
      task.state = "running";
      changed.push(name);
    } else if (kind === "task_succeeded" && name) {
      const task = this.task(name);
      close(task, name, "done");
      task.state = "done";
      changed.push(name);
    } else if ((kind === "task_failed" || kind === "task_timed_out") && name) {
      const task = this.task(name);
      close(task, name, kind === "task_timed_out" ? "timed_out" : "failed");
      task.state = "failed";
      changed.push(name);
    } else if (kind === "llm_call" && name) {
      this.task(name).calls += 1;
    } else if (kind === "plan_rerun") {
      for (const rerun of data.tasks || []) {
        const task = this.task(rerun);
        task.state = "queued";
        task.reused = false;
        changed.push(rerun);
      }
      this.status = null;
    } else if (["run_finished", "plan_requeued", "plan_recovered", "plan_cancelled", "plan_finished"].includes(kind)) {
      for (const [taskName, task] of this.tasks) {
        if (close(task, taskName, "interrupted")) task.state = "queued";
      }
      if (kind === "plan_finished") this.status = data.status;
      if (kind === "plan_cancelled") this.status = "cancelled";
    } else if (kind === "plan_resumed" || kind === "plan_queued" || kind === "plan_running") {
      this.status = null;
    }
    return changed;
  }

  // A task's state as shown: what never finished in a failed, cancelled or refused plan is skipped.
  stateOf(name, planStatus) {
    const state = this.tasks.get(name)?.state ?? "queued";
    if ((state === "queued" || state === "running") && ["failed", "cancelled", "refused"].includes(planStatus)) {
      return "skipped";
    }
    return state;
  }
}
