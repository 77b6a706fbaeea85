"""The DAG drawing: every dependency above what needs it, no two tasks on top of each other."""

from __future__ import annotations

import pytest

from planexe_api.services.plan_dag import plan_dag
from planexe_api.web.dag_layout import NODE_H, NODE_W, layout


@pytest.mark.parametrize("detail", ["full", "fast"])
def test_layout_reads_top_to_bottom_without_overlaps(detail: str) -> None:
    dag = plan_dag(detail, 16)  # type: ignore[arg-type]
    drawing = layout(dag)
    boxes = {n.name: n for n in drawing.nodes}
    assert set(boxes) == {t.name for t in dag.tasks}
    for task in dag.tasks:
        for dep in task.depends_on:
            assert boxes[dep].y + NODE_H <= boxes[task.name].y, (dep, task.name)
    nodes = list(drawing.nodes)
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            apart = a.x + NODE_W <= b.x or b.x + NODE_W <= a.x or a.y + NODE_H <= b.y or b.y + NODE_H <= a.y
            assert apart, (a.name, b.name)
        assert a.x >= 0 and a.x + NODE_W <= drawing.width and a.y + NODE_H <= drawing.height
    critical = {(e.source, e.target) for e in drawing.edges if e.critical}
    assert critical == set(zip(dag.critical_path, dag.critical_path[1:], strict=False))
    # The transitive reduction: the report needs all 52 steps, but only a few arrows reach it.
    into_report = [e for e in drawing.edges if e.target == "report"]
    assert 0 < len(into_report) < 10 < len(dag.by_name["report"].depends_on)
