"""Dependencies, durations and the schedule.

Dependencies are asked between work packages (one call, ids restricted to the
real ones; self-loops, duplicates and cycles are dropped in code). Durations
come with the WBS leaves (see ``wbs.py``). The schedule is computed in code: a forward pass gives earliest start and finish, a backward
pass gives slack, and the zero-slack chain is the critical path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import PlanTask
from planexe.plan.common import id_enum, list_of, retype, system_prompt
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.text import Code, Phrase
from planexe.plan.wbs import (
    Wbs,
    WbsItem,
    WbsLevel1,
    WbsLevel1Output,
    WbsLevel2,
    WbsLevel2Output,
    WbsOutput,
    outline,
    package_refs,
)

DURATION_CHUNK = 15  # WBS leaves estimated per call
EPSILON = 1e-6  # days; slack below this counts as zero

DEPENDENCIES_SYSTEM = system_prompt("""\
You are a project scheduler linking the work packages of the work breakdown structure (listed with \
ids). For each work package that cannot start until another has finished, add a dependency from the \
package to the one it waits for, with the reason (the permit must be granted before the fit-out \
starts; staff must be hired before they are trained). Only hard dependencies, where one package \
needs the result of the other, not mere preferences, so that work which can overlap does. A package \
outside the first phase normally waits for at least one package. Never make a package depend on \
itself, and never create a loop.""")


class PackageDependency(BaseModel):
    package_id: Code = Field(description="Id of the work package that waits, e.g. '3.1'.")
    depends_on: Code = Field(description="Id of the work package it waits for, e.g. '2.2'.")
    reason: Phrase = Field(description="Why it must wait.")


class DependenciesAnswer(BaseModel):
    dependencies: list[PackageDependency] = Field(min_length=4, max_length=30)


class RejectedDependency(BaseModel):
    package_id: str
    depends_on: str
    why: Literal["self", "duplicate", "cycle"]


class TaskDependenciesOutput(BaseModel):
    dependencies: list[PackageDependency] = Field(description="Accepted dependencies between work packages.")
    rejected: list[RejectedDependency] = Field(
        description="Proposed dependencies that were dropped, and why."
    )


class ScheduledItem(BaseModel):
    id: str
    name: str
    level: int = Field(ge=1, le=3)
    start_day: float = Field(ge=0, description="Earliest start, days from the project start.")
    duration_days: float = Field(ge=0)
    finish_day: float = Field(ge=0, description="Earliest finish, days from the project start.")
    slack_days: float = Field(ge=0, description="How long it can slip without delaying the project.")
    critical: bool = Field(description="On the critical path (no slack).")
    depends_on: list[str] = Field(description="Ids of the items it waits for.")


class ScheduleOutput(BaseModel):
    total_duration_days: float = Field(ge=0)
    critical_path: list[str] = Field(description="Ids of the leaves on the critical path, first to last.")
    critical_path_names: list[str]
    items: list[ScheduledItem] = Field(description="Phases, packages and tasks in WBS order.")


# ---- pure scheduling ----


@dataclass(frozen=True)
class Timing:
    start: float  # earliest start, days
    finish: float  # earliest finish, days
    slack: float  # latest start minus earliest start, days

    @property
    def critical(self) -> bool:
        return self.slack <= EPSILON


def topological_order(nodes: Sequence[str], preds: Mapping[str, Sequence[str]]) -> list[str]:
    """``nodes`` ordered so every node follows its predecessors; ties keep the input order."""
    known = set(nodes)
    for node in nodes:
        for pred in preds.get(node, ()):
            if pred not in known:
                raise ValueError(f"{node} depends on unknown item {pred}")
    remaining = {node: len(set(preds.get(node, ()))) for node in nodes}
    succs: dict[str, list[str]] = {node: [] for node in nodes}
    for node in nodes:
        for pred in dict.fromkeys(preds.get(node, ())):
            succs[pred].append(node)
    position = {node: i for i, node in enumerate(nodes)}
    ready = [node for node in nodes if remaining[node] == 0]
    order: list[str] = []
    while ready:
        ready.sort(key=position.__getitem__)
        node = ready.pop(0)
        order.append(node)
        for succ in succs[node]:
            remaining[succ] -= 1
            if remaining[succ] == 0:
                ready.append(succ)
    if len(order) != len(nodes):
        raise ValueError("the dependencies contain a cycle")
    return order


def forward_pass(
    durations: Mapping[str, float], preds: Mapping[str, Sequence[str]]
) -> dict[str, tuple[float, float]]:
    """Earliest (start, finish) of every item: it starts when its last predecessor finishes."""
    early: dict[str, tuple[float, float]] = {}
    for node in topological_order(list(durations), preds):
        start = max((early[p][1] for p in preds.get(node, ())), default=0.0)
        early[node] = (start, start + durations[node])
    return early


def compute_schedule(
    durations: Mapping[str, float], preds: Mapping[str, Sequence[str]]
) -> tuple[dict[str, Timing], list[str]]:
    """Timing of every item and the critical path (ids, first to last)."""
    early = forward_pass(durations, preds)
    order = topological_order(list(durations), preds)
    end = max((finish for _, finish in early.values()), default=0.0)
    succs: dict[str, list[str]] = {node: [] for node in durations}
    for node in durations:
        for pred in preds.get(node, ()):
            succs[pred].append(node)
    late_start: dict[str, float] = {}
    for node in reversed(order):
        late_finish = min((late_start[s] for s in succs[node]), default=end)
        late_start[node] = late_finish - durations[node]
    timing = {
        node: Timing(early[node][0], early[node][1], max(0.0, late_start[node] - early[node][0]))
        for node in order
    }
    path: list[str] = []
    current = next(
        (n for n in durations if timing[n].critical and abs(timing[n].finish - end) <= EPSILON), None
    )
    while current is not None:
        path.append(current)
        start = timing[current].start
        current = next(
            (
                p
                for p in preds.get(current, ())
                if timing[p].critical and abs(timing[p].finish - start) <= EPSILON
            ),
            None,
        )
    path.reverse()
    return timing, path


def acyclic_dependencies(
    nodes: Sequence[str], proposed: Sequence[PackageDependency]
) -> tuple[list[PackageDependency], list[RejectedDependency]]:
    """Accept proposed dependencies in order, dropping self-loops, duplicates and any that close a loop."""
    preds: dict[str, set[str]] = {node: set() for node in nodes}
    accepted: list[PackageDependency] = []
    rejected: list[RejectedDependency] = []

    def reaches(start: str, target: str) -> bool:
        stack, seen = [start], set()
        while stack:
            node = stack.pop()
            if node == target:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(preds[node])
        return False

    for dep in proposed:
        why: Literal["self", "duplicate", "cycle"] | None = None
        if dep.package_id == dep.depends_on:
            why = "self"
        elif dep.depends_on in preds[dep.package_id]:
            why = "duplicate"
        elif reaches(dep.depends_on, dep.package_id):
            why = "cycle"
        if why:
            rejected.append(RejectedDependency(package_id=dep.package_id, depends_on=dep.depends_on, why=why))
            continue
        preds[dep.package_id].add(dep.depends_on)
        accepted.append(dep)
    return accepted, rejected


def leaf_predecessors(wbs: WbsOutput, dependencies: Sequence[PackageDependency]) -> dict[str, list[str]]:
    """Predecessors of every WBS leaf: the order inside packages, plus package dependencies, which
    make the first tasks of a package wait for the last tasks of the package it depends on."""
    leaves = [item.id for item in wbs.items if item.is_leaf]
    preds: dict[str, list[str]] = {leaf: [] for leaf in leaves}
    for edge in wbs.sequence:
        preds[edge.task_id].append(edge.depends_on)
    inside: dict[str, list[str]] = {}
    for item in wbs.items:
        if item.level == 2:
            inside[item.id] = [item.id] if item.is_leaf else []
        elif item.level == 3:
            inside[item.parent_id].append(item.id)
    has_succ = {edge.depends_on for edge in wbs.sequence}
    starts = {pkg: [t for t in ids if not preds[t]] for pkg, ids in inside.items()}
    ends = {pkg: [t for t in ids if t not in has_succ] for pkg, ids in inside.items()}
    for dep in dependencies:
        for leaf in starts.get(dep.package_id, []):
            preds[leaf].extend(e for e in ends.get(dep.depends_on, []) if e not in preds[leaf])
    return preds


def build_schedule(
    wbs: WbsOutput, dependencies: Sequence[PackageDependency], durations: Mapping[str, float]
) -> ScheduleOutput:
    preds = leaf_predecessors(wbs, dependencies)
    leaves = [item for item in wbs.items if item.is_leaf]
    timing, path = compute_schedule({leaf.id: durations[leaf.id] for leaf in leaves}, preds)
    names = {item.id: item.name for item in wbs.items}
    package_preds: dict[str, list[str]] = {}
    for dep in dependencies:
        package_preds.setdefault(dep.package_id, []).append(dep.depends_on)

    def scheduled(item: WbsItem) -> ScheduledItem:
        if item.is_leaf:
            t = timing[item.id]
            start, finish, slack, critical = t.start, t.finish, t.slack, t.critical
            depends = preds[item.id]
        else:
            below = [timing[i] for i in timing if i.startswith(f"{item.id}.")]
            start = min((t.start for t in below), default=0.0)
            finish = max((t.finish for t in below), default=0.0)
            slack = min((t.slack for t in below), default=0.0)
            critical = any(t.critical for t in below)
            depends = package_preds.get(item.id, []) if item.level == 2 else []
        return ScheduledItem(
            id=item.id,
            name=item.name,
            level=item.level,
            start_day=round(start, 3),
            duration_days=round(finish - start, 3),
            finish_day=round(finish, 3),
            slack_days=round(slack, 3),
            critical=critical,
            depends_on=list(depends),
        )

    total = max((t.finish for t in timing.values()), default=0.0)
    return ScheduleOutput(
        total_duration_days=round(total, 3),
        critical_path=path,
        critical_path_names=[names[i] for i in path],
        items=[scheduled(item) for item in wbs.items],
    )


# ---- steps ----


class TaskDependencies(PlanTask):
    title = "Task dependencies"
    depends_on = (ProjectPlan, WbsLevel1, WbsLevel2)
    output_model = TaskDependenciesOutput
    system_prompt = DEPENDENCIES_SYSTEM
    calls_full = 1

    async def produce(self) -> TaskDependenciesOutput:
        level1: WbsLevel1Output = self.load(WbsLevel1)
        level2: WbsLevel2Output = self.load(WbsLevel2)
        ids = [ref.id for ref in package_refs(level1, level2)]
        dep = retype(PackageDependency, package_id=id_enum(ids), depends_on=id_enum(ids))
        asked = retype(DependenciesAnswer, dependencies=list_of(dep))
        user = (
            f"{self.brief(ProjectPlan)}\n\n# Work packages (id, name, description)\n{outline(level1, level2)}"
        )
        answer = await self.ask(self.system_prompt, user, asked)
        accepted, rejected = acyclic_dependencies(ids, answer.dependencies)
        return TaskDependenciesOutput(dependencies=accepted, rejected=rejected)


class Schedule(PlanTask):
    title = "Schedule"
    depends_on = (Wbs, TaskDependencies)
    output_model = ScheduleOutput

    async def produce(self) -> ScheduleOutput:
        wbs: WbsOutput = self.load(Wbs)
        deps: TaskDependenciesOutput = self.load(TaskDependencies)
        durations = {
            item.id: item.estimate.duration_days for item in wbs.items if item.estimate and item.is_leaf
        }
        return build_schedule(wbs, deps.dependencies, durations)
