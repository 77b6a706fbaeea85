// The plan page: the event stream drives the DAG, the timeline, the log and the task
// panel; the server-rendered parts (facts and ETA, usage, files, failure) are fetched
// again when events say they changed.
//
// The stream starts at the first event, so the log shows the whole history, each event
// once. The server drew the DAG as of event `data-last-event-id`; until the replay
// reaches it, the DAG keeps the server's picture (no flicker back to "queued"), and from
// then on every state comes from the events. Work per batch of events, not per event:
// a batch (one network read, up to hundreds of events) is folded, then the page is
// painted once in the next animation frame.
import { DagView } from "./dag.js";
import { EventLog } from "./event-log.js";
import { initPlanActions } from "./plan-actions.js";
import { PlanFold } from "./plan-fold.js";
import { PlanParts } from "./plan-parts.js";
import { PlanStream } from "./plan-stream.js";
import { initReportView } from "./report-view.js";
import { initRerunForms } from "./rerun-form.js";
import { TaskPanel } from "./task-panel.js";
import { Timeline } from "./timeline.js";

const root = document.querySelector("main.plan-page");
const planId = root.dataset.planId;
const renderedAt = Number(root.dataset.lastEventId);

const dag = new DagView(
  document.getElementById("dag"),
  document.getElementById("dag-scroll"),
  document.getElementById("dag-zoom"),
  document.getElementById("dag-summary"),
);
const titles = new Map([...dag.nodes].map(([name, node]) => [name, node.dataset.title]));
const fold = new PlanFold();
const timeline = new Timeline(document.getElementById("timeline"), titles);
const log = new EventLog(document.getElementById("event-list"), document.getElementById("event-log"), document.getElementById("log-count"));
const panel = new TaskPanel(document.getElementById("task-panel"), planId, dag);
const connection = document.getElementById("connection");
const parts = new PlanParts(root, planId, (status) => {
  if (["completed", "failed", "cancelled", "refused"].includes(status)) parts.refresh("files", "usage", "failure");
});

let caughtUp = renderedAt === 0;
const logBox = document.getElementById("event-log");
// The replay of the history is not news: screen readers hear the log once it is live.
logBox.setAttribute("aria-busy", String(!caughtUp));
let dirty = new Set();
let frame = null;
let streamEnded = false;

function planStatus() {
  return fold.status ?? parts.status;
}

function paint() {
  frame = null;
  if (caughtUp) {
    const status = planStatus();
    for (const name of dirty) dag.setState(name, fold.stateOf(name, status));
    dag.updateSummary();
    timeline.render(fold, !streamEnded);
  }
  dirty = new Set();
}

function schedulePaint() {
  if (frame === null) frame = requestAnimationFrame(paint);
}

function onEvents(events) {
  const live = events[events.length - 1].id > renderedAt;
  const touched = new Set();
  let files = false;
  let usage = false;
  for (const event of events) {
    for (const name of fold.apply(event)) touched.add(name);
    if (live) timeline.observe(event.data.ts);
    if (event.kind === "task_succeeded" || event.kind === "plan_finished") files = true;
    if (event.kind === "llm_call") usage = true;
  }
  log.append(events);
  if (!caughtUp && events[events.length - 1].id >= renderedAt) {
    caughtUp = true;
    logBox.setAttribute("aria-busy", "false");
    dirty = new Set(dag.nodes.keys());
  } else {
    for (const name of touched) dirty.add(name);
  }
  schedulePaint();
  panel.changed([...touched]);
  if (live) {
    parts.refresh("facts", "failure");
    if (files) parts.refresh("files");
    if (usage || files) parts.refresh("usage");
  }
}

const stream = new PlanStream(`/plans/${planId}/events`, {
  events: onEvents,
  end(status) {
    streamEnded = true;
    caughtUp = true;
    logBox.setAttribute("aria-busy", "false");
    dirty = new Set(dag.nodes.keys());
    schedulePaint();
    parts.refresh("facts", "failure", "files", "usage");
    if (status) document.getElementById("status-announcer").textContent = `The plan is ${status}.`;
  },
  down(info) {
    connection.hidden = false;
    connection.classList.remove("ok");
    connection.textContent = `Lost the connection to the service at ${info.since.toLocaleTimeString("en-GB")} (${info.reason}), after event #${info.lastId}. Reconnecting, try ${info.attempt}…`;
  },
  up(info) {
    const seconds = Math.round((info.until - info.since) / 1000);
    connection.hidden = false;
    connection.classList.add("ok");
    connection.textContent = `Reconnected at ${info.until.toLocaleTimeString("en-GB")} after ${seconds} s without a connection; the events since #${info.lastId} follow from the service's log, none lost or repeated.`;
    log.note(`No connection from ${info.since.toLocaleTimeString("en-GB")} to ${info.until.toLocaleTimeString("en-GB")} (${seconds} s); the events after #${info.lastId} below were replayed when it came back.`);
    timeline.addGap(info.since, info.until);
    parts.refresh("facts", "failure", "files", "usage");
  },
  hole(from, to) {
    log.note(`Events #${from} to #${to} were not received.`);
  },
  fatal(message) {
    connection.hidden = false;
    connection.classList.remove("ok");
    connection.textContent = `The event stream stopped: ${message}`;
  },
});

function followAgain() {
  streamEnded = false;
  stream.start();
}

initPlanActions(root, document.getElementById("action-message"), (action) => {
  parts.refresh("facts", "failure");
  if (action === "resume") followAgain();
});
initRerunForms(document.getElementById("action-message"), () => {
  parts.refresh("facts", "failure", "files");
  followAgain();
});
initReportView(document.getElementById("report-toggle"), document.getElementById("report-frame"));
stream.start();
// Running bars grow and the ETA narrows with time alone.
setInterval(() => {
  if (!streamEnded && caughtUp) schedulePaint();
}, 1000);
setInterval(() => {
  if (!streamEnded && !parts.terminal) parts.refresh("facts");
}, 5000);
