// The timeline (a Gantt of what actually ran): one row per task that started, a bar per
// run from its start to its end as the events give them, running bars reaching "now".
// Drawn again at most once per animation frame and once a second while something runs;
// 53 rows of a few bars each is cheap to redraw, and the rest of the page is not touched.
// Times are the pipeline's clock; "now" is the page's clock corrected by the smallest
// delay seen between an event's time and its arrival. Gaps in the page's connection are
// drawn as hatched bands: the page did not know what happened then, until the replay.
import { duration } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const LABEL_W = 170; // px
const ROW_H = 18; // px
const AXIS_H = 22; // px
const STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Timeline {
  constructor(svg, titles) {
    this.svg = svg;
    this.titles = titles; // task name -> title
    this.gaps = []; // [{from, to}] in pipeline seconds
    this.offset = null; // page clock minus pipeline clock, seconds
  }

  observe(ts) {
    // Called for live events: the smallest (arrival - event time) is the best clock offset.
    if (typeof ts !== "number") return;
    const offset = Date.now() / 1000 - ts;
    this.offset = this.offset === null ? offset : Math.min(this.offset, offset);
  }

  now() {
    return Date.now() / 1000 - (this.offset ?? 0);
  }

  addGap(fromDate, toDate) {
    const shift = this.offset ?? 0;
    this.gaps.push({ from: fromDate.getTime() / 1000 - shift, to: toDate.getTime() / 1000 - shift });
  }

  render(fold, live) {
    const rows = [...fold.tasks.entries()].filter(([, t]) => t.spans.length).sort((a, b) => a[1].spans[0].start - b[1].spans[0].start);
    const width = Math.max(this.svg.parentElement.clientWidth || 600, 576);
    const height = AXIS_H + Math.max(1, rows.length) * ROW_H + 6;
    this.svg.replaceChildren();
    this.svg.setAttribute("height", String(height));
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.defs();
    if (!rows.length) {
      this.svg.append(el("text", { x: 8, y: 16, class: "row-label" }, "No task has started yet."));
      this.svg.setAttribute("aria-label", "Timeline: no task has started yet");
      return;
    }
    const starts = rows.map(([, t]) => t.spans[0].start);
    const t0 = Math.min(...starts, ...fold.runs);
    let t1 = t0 + 1;
    let running = 0;
    for (const [, t] of rows) {
      for (const s of t.spans) {
        if (s.end === null) running += 1;
        t1 = Math.max(t1, s.end ?? (live ? this.now() : s.start));
      }
    }
    const plotW = width - LABEL_W - 12;
    const x = (t) => LABEL_W + ((t - t0) / (t1 - t0)) * plotW;
    this.axis(t0, t1, x, height);
    for (const run of fold.runs.slice(1)) {
      this.svg.append(el("line", { x1: x(run), x2: x(run), y1: AXIS_H - 4, y2: height, class: "run-start" }));
    }
    for (const gap of this.gaps) {
      if (gap.to < t0 || gap.from > t1) continue;
      const gx = x(Math.max(gap.from, t0));
      const gw = Math.max(2, x(Math.min(gap.to, t1)) - gx);
      const band = el("rect", { x: gx, y: AXIS_H - 4, width: gw, height: height - AXIS_H + 4, class: "gap" });
      band.append(el("title", {}, `No connection to the service for ${duration(gap.to - gap.from)}`));
      this.svg.append(band, el("text", { x: gx + 3, y: AXIS_H + 10, class: "gap-label" }, "no connection"));
    }
    rows.forEach(([name, task], i) => {
      const y = AXIS_H + i * ROW_H;
      const title = this.titles.get(name) || name;
      this.svg.append(el("text", { x: 4, y: y + 13, class: "row-label" }, title.length > 26 ? `${title.slice(0, 25)}…` : title));
      for (const span of task.spans) {
        const end = span.end ?? (live ? this.now() : span.start);
        const bx = x(span.start);
        const bar = el("rect", {
          x: bx,
          y: y + 3,
          width: Math.max(2, x(end) - bx),
          height: ROW_H - 6,
          rx: 2,
          class: `bar ${span.outcome ?? "running"}`,
          "data-task": name,
        });
        bar.append(el("title", {}, `${title}: run ${span.run}, ${duration(end - span.start)}, ${span.outcome ?? "running"}`));
        this.svg.append(bar);
      }
    });
    const longest = rows
      .map(([name, t]) => [name, t.spans.reduce((sum, s) => sum + ((s.end ?? t1) - s.start), 0)])
      .sort((a, b) => b[1] - a[1])[0];
    this.svg.setAttribute(
      "aria-label",
      `Timeline: ${rows.length} tasks ran over ${duration(t1 - t0)}, ${running} running now; the longest was ${this.titles.get(longest[0]) || longest[0]} (${duration(longest[1])})`,
    );
  }

  defs() {
    const defs = el("defs");
    const hatch = el("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
    hatch.append(el("rect", { width: 6, height: 6, fill: "#eaeef2" }), el("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#8c959f", "stroke-width": 2 }));
    const gap = el("pattern", { id: "gap-hatch", width: 8, height: 8, patternUnits: "userSpaceOnUse", patternTransform: "rotate(-45)" });
    gap.append(el("rect", { width: 8, height: 8, fill: "#fff8c5", "fill-opacity": 0.7 }), el("line", { x1: 0, y1: 0, x2: 0, y2: 8, stroke: "#d4a72c", "stroke-width": 2 }));
    defs.append(hatch, gap);
    this.svg.append(defs);
  }

  axis(t0, t1, x, height) {
    const span = t1 - t0;
    const step = STEPS.find((s) => span / s <= 10) ?? 7200;
    const g = el("g", { class: "axis" });
    for (let t = 0; t <= span + 1e-9; t += step) {
      const px = x(t0 + t);
      g.append(el("line", { x1: px, x2: px, y1: AXIS_H - 4, y2: height }));
      g.append(el("text", { x: px + 2, y: 12 }, duration(t)));
    }
    this.svg.append(g);
  }
}
