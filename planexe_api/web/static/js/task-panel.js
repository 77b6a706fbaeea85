// The task panel: a task's state, runs, LLM calls, place in the DAG and readable output,
// server-rendered (/plans/{id}/view/tasks/{task}) beside the DAG. Opened from a DAG node
// or a task link, closed with its Close link or Escape (focus goes back to the node);
// the address keeps ?task= so a reload or a shared link opens the same task.
import { fragment } from "./api.js";

export class TaskPanel {
  constructor(panel, planId, dag) {
    this.panel = panel;
    this.planId = planId;
    this.dag = dag;
    this.current = new URLSearchParams(location.search).get("task");
    this.pending = null;
    if (this.current && !panel.hidden) dag.select(this.current);
    document.addEventListener("click", (event) => {
      const link = event.target.closest("a[data-task], a[data-task-link], a[data-close-panel]");
      if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      if (link.hasAttribute("data-close-panel")) this.close();
      else this.open(link.dataset.task || link.dataset.taskLink, true);
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.panel.hidden) this.close();
    });
  }

  async open(name, focus) {
    this.current = name;
    const url = new URL(location.href);
    url.searchParams.set("task", name);
    history.replaceState(null, "", url);
    this.dag.select(name);
    await this.load();
    this.panel.hidden = false;
    if (focus) this.panel.querySelector("h2")?.setAttribute("tabindex", "-1");
    if (focus) this.panel.querySelector("h2")?.focus();
  }

  async load() {
    const name = this.current;
    if (!name) return;
    try {
      const { html } = await fragment(`/plans/${this.planId}/view/tasks/${encodeURIComponent(name)}`);
      if (name === this.current) this.replace(html);
    } catch (err) {
      this.panel.innerHTML = "";
      const note = document.createElement("p");
      note.className = "notice notice-error";
      note.setAttribute("role", "alert");
      note.textContent = err.message;
      this.panel.append(note);
    }
  }

  // The panel redrawn, keeping what the reader is typing (the feedback of a regeneration).
  replace(html) {
    const box = this.panel.querySelector("textarea");
    const draft = box ? { value: box.value, focused: document.activeElement === box, at: box.selectionStart } : null;
    this.panel.innerHTML = html;
    const again = this.panel.querySelector("textarea");
    if (!draft || !again || !draft.value) return;
    again.value = draft.value;
    if (draft.focused) {
      again.focus();
      again.setSelectionRange(draft.at, draft.at);
    }
  }

  // Events touched these tasks: show the open one as it is now (at most once a second).
  changed(names) {
    if (!this.current || this.panel.hidden || !names.includes(this.current) || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.load();
    }, 1000);
  }

  close() {
    const name = this.current;
    this.current = null;
    this.panel.hidden = true;
    this.dag.select(null);
    const url = new URL(location.href);
    url.searchParams.delete("task");
    history.replaceState(null, "", url);
    if (name) this.dag.focus(name);
  }
}
