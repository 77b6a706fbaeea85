// The DAG drawn by the server (templates/_dag.html): states move by class, never by
// redrawing; selecting a task lights up what it needs and what needs it.

const GLYPHS = { queued: "○", running: "▶", done: "✓", failed: "✗", skipped: "–" };
const STATES = Object.keys(GLYPHS);

export class DagView {
  constructor(svg, scrollBox, zoomButton, summary) {
    this.svg = svg;
    this.summary = summary;
    this.nodes = new Map();
    for (const node of svg.querySelectorAll("a.node")) this.nodes.set(node.dataset.task, node);
    this.edges = [...svg.querySelectorAll("path.edge")];
    this.up = new Map();
    this.down = new Map();
    for (const edge of this.edges) {
      const { from, to } = edge.dataset;
      if (!this.up.has(to)) this.up.set(to, []);
      if (!this.down.has(from)) this.down.set(from, []);
      this.up.get(to).push(from);
      this.down.get(from).push(to);
    }
    this.criticalRounds = summary?.textContent.match(/critical path (\d+)/)?.[1];
    zoomButton?.addEventListener("click", () => {
      const actual = scrollBox.classList.toggle("actual");
      zoomButton.setAttribute("aria-pressed", String(actual));
    });
  }

  stateOf(name) {
    const node = this.nodes.get(name);
    return node ? STATES.find((s) => node.classList.contains(`state-${s}`)) : undefined;
  }

  setState(name, state) {
    const node = this.nodes.get(name);
    if (!node || node.classList.contains(`state-${state}`)) return;
    for (const s of STATES) node.classList.remove(`state-${s}`);
    node.classList.add(`state-${state}`);
    node.querySelector(".glyph").textContent = GLYPHS[state];
    const critical = node.classList.contains("critical") ? ", critical path" : "";
    node.setAttribute("aria-label", `${node.dataset.title}: ${state}${critical}`);
  }

  updateSummary() {
    if (!this.summary) return;
    const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
    for (const name of this.nodes.keys()) counts[this.stateOf(name)] += 1;
    let text = `${counts.done} done · ${counts.running} running · ${counts.queued} queued`;
    if (counts.failed) text += ` · ${counts.failed} failed`;
    if (counts.skipped) text += ` · ${counts.skipped} skipped`;
    if (this.criticalRounds) text += ` · critical path ${this.criticalRounds} LLM rounds`;
    this.summary.textContent = text;
  }

  reach(start, graph) {
    const seen = new Set();
    const stack = [start];
    while (stack.length) {
      for (const next of graph.get(stack.pop()) || []) {
        if (!seen.has(next)) {
          seen.add(next);
          stack.push(next);
        }
      }
    }
    return seen;
  }

  select(name) {
    for (const node of this.nodes.values()) node.classList.remove("selected", "related");
    for (const edge of this.edges) edge.classList.remove("related");
    this.svg.classList.toggle("has-selection", Boolean(name));
    const node = name && this.nodes.get(name);
    if (!node) return;
    const above = this.reach(name, this.up);
    const below = this.reach(name, this.down);
    node.classList.add("selected");
    for (const n of [...above, ...below]) this.nodes.get(n)?.classList.add("related");
    above.add(name);
    below.add(name);
    for (const edge of this.edges) {
      const { from, to } = edge.dataset;
      if ((above.has(from) && above.has(to)) || (below.has(from) && below.has(to))) edge.classList.add("related");
    }
    node.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  focus(name) {
    this.nodes.get(name)?.focus();
  }
}
