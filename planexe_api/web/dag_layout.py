"""Where each task of a DAG goes on the page: layered, top to bottom, computed once per DAG.

Layers are longest paths from the sources, so every dependency sits above
the task that needs it. A layer wider than ``MAX_PER_ROW`` tasks (the eleven
that branch from the project plan) is staggered over two rows, brick-wise,
which keeps its left-to-right order and halves the drawing's width. Only the edges of the transitive reduction are drawn
(A -> C is left out when A -> B -> C exists: the report alone depends on all
52 steps), which keeps reachability and removes most of the clutter; the
task panel lists every direct dependency. Within a layer, tasks are ordered
by the barycentre of their neighbours, a few sweeps down and up, which
removes most crossings (Sugiyama's heuristic, without dummy nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from planexe_api.services.plan_dag import PlanDag

NODE_W = 140  # px
NODE_H = 32  # px
GAP_X = 14  # px between tasks of a layer
GAP_Y = 40  # px between layers
SUB_GAP_Y = 10  # px between the rows of a staggered layer
MAX_PER_ROW = 6  # tasks; a wider layer is staggered
MARGIN = 12  # px around the drawing
LABEL_CHARS = 18  # a longer title is cut, the full one is in the node's tooltip and name
SWEEPS = 6  # barycentre passes (down and up) over the layers


@dataclass(frozen=True)
class NodeBox:
    name: str
    title: str
    label: str
    x: float
    y: float
    layer: int
    critical: bool
    llm_calls: int


@dataclass(frozen=True)
class EdgePath:
    source: str
    target: str
    d: str  # SVG path data
    critical: bool


@dataclass(frozen=True)
class DagLayout:
    width: float
    height: float
    node_w: int
    node_h: int
    nodes: tuple[NodeBox, ...]
    edges: tuple[EdgePath, ...]


def _reduced_deps(dag: PlanDag) -> dict[str, list[str]]:
    ancestors: dict[str, set[str]] = {}
    reduced: dict[str, list[str]] = {}
    for task in dag.tasks:
        deps = task.depends_on
        ancestors[task.name] = set().union(*(ancestors[d] | {d} for d in deps)) if deps else set()
        reduced[task.name] = [d for d in deps if not any(d in ancestors[o] for o in deps if o != d)]
    return reduced


def _order_layers(layers: list[list[str]], up: dict[str, list[str]], down: dict[str, list[str]]) -> None:
    position: dict[str, float] = {}

    def place(layer: list[str]) -> None:
        for i, name in enumerate(layer):
            position[name] = i - (len(layer) - 1) / 2  # centred, as drawn

    for layer in layers:
        place(layer)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        order = layers[1:] if downward else layers[-2::-1]
        for layer in order:
            neighbours = up if downward else down

            def centre(name: str, nb: dict[str, list[str]] = neighbours) -> float:
                near = [position[n] for n in nb[name] if n in position]
                return sum(near) / len(near) if near else position[name]

            layer.sort(key=centre)
            place(layer)


@lru_cache(maxsize=8)
def layout(dag: PlanDag) -> DagLayout:
    """The drawing of ``dag`` (cached: a DAG is built once per detail and concurrency)."""
    layer_of: dict[str, int] = {}
    for task in dag.tasks:
        layer_of[task.name] = 1 + max((layer_of[d] for d in task.depends_on), default=-1)
    layers: list[list[str]] = [[] for _ in range(max(layer_of.values(), default=-1) + 1)]
    for task in dag.tasks:
        layers[layer_of[task.name]].append(task.name)
    up = _reduced_deps(dag)
    down: dict[str, list[str]] = {t.name: [] for t in dag.tasks}
    for name, deps in up.items():
        for dep in deps:
            down[dep].append(name)
    _order_layers(layers, up, down)

    step = NODE_W + GAP_X
    rows = [-(-len(layer) // MAX_PER_ROW) for layer in layers]  # rows per layer, ceil
    spans = [
        (len(layer) - 1) * step / k + NODE_W if layer else 0 for layer, k in zip(layers, rows, strict=True)
    ]
    width = 2 * MARGIN + max(spans, default=0)
    xy: dict[str, tuple[float, float]] = {}
    top = float(MARGIN)
    for layer, k, span in zip(layers, rows, spans, strict=True):
        left = (width - span) / 2
        for i, name in enumerate(layer):
            xy[name] = (left + i * step / k, top + (i % k) * (NODE_H + SUB_GAP_Y))
        top += k * NODE_H + (k - 1) * SUB_GAP_Y + GAP_Y
    height = top - GAP_Y + MARGIN

    path_edges = set(zip(dag.critical_path, dag.critical_path[1:], strict=False))
    drawn = {(d, t) for t, deps in up.items() for d in deps} | path_edges
    edges = []
    for source, target in sorted(drawn, key=lambda e: (e in path_edges, e)):  # critical ones on top
        (x1, y1), (x2, y2) = xy[source], xy[target]
        sx, sy, tx, ty = x1 + NODE_W / 2, y1 + NODE_H, x2 + NODE_W / 2, y2
        bend = max(GAP_Y * 0.6, (ty - sy) * 0.4)  # leaves and enters vertically
        d = f"M{sx:.0f},{sy:.0f} C{sx:.0f},{sy + bend:.0f} {tx:.0f},{ty - bend:.0f} {tx:.0f},{ty - 2:.0f}"
        edges.append(EdgePath(source, target, d, (source, target) in path_edges))

    nodes = []
    for task in dag.tasks:
        x, y = xy[task.name]
        label = task.title if len(task.title) <= LABEL_CHARS else task.title[: LABEL_CHARS - 1] + "…"
        nodes.append(
            NodeBox(
                task.name, task.title, label, x, y, layer_of[task.name], task.on_critical_path, task.llm_calls
            )
        )
    return DagLayout(width, height, NODE_W, NODE_H, tuple(nodes), tuple(edges))
