"""The DAG as SVG markup, built in Python rather than in a template: it is the page's hot spot.

Rendered by Jinja, the 53 nodes and ~100 edges cost 2/3 of the plan page's
server time (~1,700 escapes per page). Everything but the plan id and the
task states is the same for every plan of a DAG, so the edges and each
node's markup are built once per layout, already escaped, and a page only
fills in the states.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape

from markupsafe import Markup

from planexe_api.web.dag_layout import DagLayout

GLYPHS = {"queued": "○", "running": "▶", "done": "✓", "failed": "✗", "skipped": "–"}


@lru_cache(maxsize=8)
def _edges(layout: DagLayout) -> str:
    return "".join(
        f'<path d="{e.d}" class="edge{" critical" if e.critical else ""}" data-from="{e.source}" '
        f'data-to="{e.target}" marker-end="url(#arrow)"></path>'
        for e in layout.edges
    )


@lru_cache(maxsize=8)
def _nodes(layout: DagLayout) -> tuple[tuple[str, str, str, str, str, str], ...]:
    """Per node: its name, the markup before its classes, its escaped title, the critical-path
    suffix of its name, and the markup before and after its state's glyph."""
    parts = []
    for n in layout.nodes:
        title = escape(n.title)
        calls = f"{n.llm_calls} LLM call{'' if n.llm_calls == 1 else 's'}"
        head = f'" id="node-{n.name}" data-task="{n.name}" data-title="{title}" class="node'
        tail = (
            f'<rect x="{int(n.x)}" y="{int(n.y)}" width="{layout.node_w}" height="{layout.node_h}" rx="6"></rect>'
            f'<text x="{int(n.x + 8)}" y="{int(n.y + 21)}" class="glyph" aria-hidden="true">'
        )
        after = (
            f'</text><text x="{int(n.x + 24)}" y="{int(n.y + 21)}" class="label" aria-hidden="true">'
            f"{escape(n.label)}</text><title>{title} ({n.name}): {calls}</title></a>"
        )
        parts.append((n.name, head, title, ", critical path" if n.critical else "", tail, after))
    return tuple(parts)


def dag_svg(layout: DagLayout, plan_id: str, states: dict[str, str]) -> Markup:
    """The DAG of a plan whose tasks are in ``states`` (task name -> state)."""
    nodes = []
    for name, head, title, critical, tail, after in _nodes(layout):
        state = states.get(name, "queued")
        css = f"state-{state}{' critical' if critical else ''}"
        nodes.append(
            f'<a href="/plans/{plan_id}/view?task={name}{head} {css}" '
            f'aria-label="{title}: {state}{critical}">{tail}{GLYPHS[state]}{after}'
        )
    width, height = int(layout.width), int(layout.height)
    return Markup(
        f'<svg id="dag" class="dag" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="group" aria-label="Task graph: {len(layout.nodes)} tasks, each below the tasks it needs">'
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerWidth="7" markerHeight="7" '
        'markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M0,0 L8,4 L0,8 z"></path></marker></defs>'
        f'<g class="edges" aria-hidden="true">{_edges(layout)}</g><g class="nodes">{"".join(nodes)}</g></svg>'
    )
