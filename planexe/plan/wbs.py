"""The work breakdown structure, three levels deep.

Level 1 (phases) and level 2 (work packages) are one call each; level 3 is a
batch, one call per expanded work package. Ids are given in code ("2", "2.3",
"2.3.1"), never by the model, so later steps can refer to items reliably.

Durations are estimated by the call that writes the item: level 2 estimates
every work package (used as is for a package that is not broken down), level 3
each task of the package it breaks down. A separate estimating pass over the
finished WBS would put one more LLM round on the plan's critical path and see
each task out of the context of its package.
"""

from __future__ import annotations

import itertools

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep, PlanTask
from planexe.pipeline.rundir import Detail
from planexe.plan.common import Level, by_detail, compact, system_prompt
from planexe.plan.locations import PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.text import Label, Phrase, Sentence

PHASES = 5
PACKAGES_PER_PHASE = 3
TASKS_PER_PACKAGE = 4
EXPANDED_PER_PHASE_FULL = PACKAGES_PER_PHASE  # full detail expands every work package
EXPANDED_PER_PHASE_FAST = 1  # fast detail expands the first package of each phase


def expanded_per_phase(detail: Detail) -> int:
    return by_detail(detail, EXPANDED_PER_PHASE_FULL, EXPANDED_PER_PHASE_FAST)


def leaf_count(detail: Detail) -> int:
    """Leaves of the WBS: tasks of expanded packages plus the packages left unexpanded."""
    expanded = expanded_per_phase(detail)
    return PHASES * (expanded * TASKS_PER_PACKAGE + PACKAGES_PER_PHASE - expanded)


ESTIMATE_RULES = """Estimate how many calendar days each item takes from its start to its finish \
with the staffing the plan describes, including waiting that is part of the item itself (an \
authority's processing time belongs to the application), at realistic figures for the project's \
location and scale, without padding every item equally; give your confidence in the estimate and \
its basis in a few words."""

LEVEL1_SYSTEM = system_prompt(f"""\
You are a project scheduler building the work breakdown structure (WBS) of this project. Split the \
whole project into exactly {PHASES} level-1 phases that together cover all of the scope and every \
deliverable, from initiation to handover or launch, in the order in which they mostly happen. Name \
each phase by what is done in it (never "Phase 1"), and give its objective and its main \
deliverable. Work outside scope_in does not belong in the WBS; all work inside it must fit into one \
of the phases.""")

LEVEL2_SYSTEM = system_prompt(f"""\
You are a project scheduler breaking the level-1 phases of the work breakdown structure into work \
packages. For every phase, in the order listed, write exactly {PACKAGES_PER_PHASE} work packages: \
coherent pieces of work with one owner and a clear result that together cover the whole phase. Name \
each with a verb and an object ("Secure the premises"), describe the work, and state its \
deliverable. Do not repeat a package in two phases. {ESTIMATE_RULES}""")

LEVEL3_SYSTEM = system_prompt(f"""\
You are a project scheduler breaking one work package (given at the end of the message) into \
exactly {TASKS_PER_PACKAGE} tasks that one person or a small team can start and finish. List them \
in the order they are done. Give each a concrete name (verb + object), a short description of the \
work and its result, and the role that does it. Set parallel_with_previous to true only when the \
task can run at the same time as the task before it because it does not need that task's result; \
the first task's value is ignored. Stay inside this work package: the others are broken down \
separately. {ESTIMATE_RULES}""")


class Phase(BaseModel):
    name: Label = Field(description="What is done in the phase, e.g. 'Permits and premises'.")
    objective: Sentence = Field(description="What the phase achieves.")
    deliverable: Phrase = Field(description="Its main deliverable.")


class WbsLevel1Output(BaseModel):
    phases: list[Phase] = Field(min_length=PHASES, max_length=PHASES, description="In time order.")


class Estimate(BaseModel):
    duration_days: float = Field(gt=0, le=365, description="Calendar days from start to finish.")
    confidence: Level = Field(description="Confidence in the estimate.")
    basis: Phrase = Field(description="Basis of the estimate in a few words.")


class WorkPackage(Estimate):
    name: Label = Field(description="Verb and object, e.g. 'Secure the premises'.")
    description: Sentence = Field(description="The work it contains.")
    deliverable: Phrase = Field(description="Its result.")


class PhaseBreakdown(BaseModel):
    work_packages: list[WorkPackage] = Field(min_length=PACKAGES_PER_PHASE, max_length=PACKAGES_PER_PHASE)


class WbsLevel2Output(BaseModel):
    phases: list[PhaseBreakdown] = Field(
        min_length=PHASES, max_length=PHASES, description="One entry per level-1 phase, in the order listed."
    )


class WbsTask(Estimate):
    name: Label = Field(description="Verb and object, e.g. 'Submit the change-of-use application'.")
    description: Sentence = Field(description="The work and its result.")
    owner_role: Label = Field(description="Role that does it.")
    parallel_with_previous: bool = Field(description="True if it can run alongside the task before it.")


class TaskBreakdown(BaseModel):
    tasks: list[WbsTask] = Field(
        min_length=TASKS_PER_PACKAGE, max_length=TASKS_PER_PACKAGE, description="In order."
    )


class PackageExpansion(BaseModel):
    package_id: str = Field(description="Id of the expanded work package, e.g. '2.3'.")
    tasks: list[WbsTask]


class WbsLevel3Output(BaseModel):
    expansions: list[PackageExpansion]


class PackageRef(BaseModel):
    """A work package with its id and phase, as handed to later steps."""

    id: str
    phase_id: str
    phase_name: str
    name: str
    description: str
    deliverable: str
    estimate: Estimate


class WbsItem(BaseModel):
    id: str = Field(description="'2' for a phase, '2.3' for a work package, '2.3.1' for a task.")
    level: int = Field(ge=1, le=3)
    parent_id: str = Field(description="Id of the parent item; empty for a phase.")
    name: str
    description: str
    deliverable: str = Field(description="Deliverable of a phase or package; empty for a task.")
    owner_role: str = Field(description="Role doing a task; empty for phases and packages.")
    is_leaf: bool = Field(description="True if the item is not broken down further (it is scheduled).")
    estimate: Estimate | None = Field(description="Duration estimate of a leaf; null for items broken down.")


class WbsEdge(BaseModel):
    task_id: str = Field(description="The item that waits.")
    depends_on: str = Field(description="The item it waits for.")


class WbsCounts(BaseModel):
    phases: int = Field(ge=0)
    work_packages: int = Field(ge=0)
    tasks: int = Field(ge=0)
    leaves: int = Field(ge=0)


class WbsOutput(BaseModel):
    counts: WbsCounts
    items: list[WbsItem] = Field(
        description="Depth-first: each phase, then its packages, each with its tasks."
    )
    sequence: list[WbsEdge] = Field(description="Order of the tasks inside each expanded work package.")


def package_refs(level1: WbsLevel1Output, level2: WbsLevel2Output) -> list[PackageRef]:
    refs = []
    for p, (phase, breakdown) in enumerate(zip(level1.phases, level2.phases, strict=True), start=1):
        for k, wp in enumerate(breakdown.work_packages, start=1):
            refs.append(
                PackageRef(
                    id=f"{p}.{k}",
                    phase_id=str(p),
                    phase_name=phase.name,
                    name=wp.name,
                    description=wp.description,
                    deliverable=wp.deliverable,
                    estimate=Estimate(
                        duration_days=wp.duration_days, confidence=wp.confidence, basis=wp.basis
                    ),
                )
            )
    return refs


def expanded_packages(refs: list[PackageRef], detail: Detail) -> list[PackageRef]:
    keep = expanded_per_phase(detail)
    return [ref for ref in refs if int(ref.id.split(".")[1]) <= keep]


def sequence_edges(package_id: str, tasks: list[WbsTask]) -> list[WbsEdge]:
    """Tasks run in groups: a task marked parallel joins the previous task's group; each group waits
    for every task of the group before it."""
    groups: list[list[str]] = []
    for index, task in enumerate(tasks, start=1):
        task_id = f"{package_id}.{index}"
        if groups and task.parallel_with_previous:
            groups[-1].append(task_id)
        else:
            groups.append([task_id])
    return [
        WbsEdge(task_id=later, depends_on=earlier)
        for before, after in itertools.pairwise(groups)
        for later in after
        for earlier in before
    ]


def build_wbs(level1: WbsLevel1Output, level2: WbsLevel2Output, level3: WbsLevel3Output) -> WbsOutput:
    expansions = {e.package_id: e.tasks for e in level3.expansions}
    items: list[WbsItem] = []
    sequence: list[WbsEdge] = []
    refs = package_refs(level1, level2)
    for p, phase in enumerate(level1.phases, start=1):
        items.append(
            WbsItem(
                id=str(p),
                level=1,
                parent_id="",
                name=phase.name,
                description=phase.objective,
                deliverable=phase.deliverable,
                owner_role="",
                is_leaf=False,
                estimate=None,
            )
        )
        for ref in (r for r in refs if r.phase_id == str(p)):
            tasks = expansions.get(ref.id, [])
            items.append(
                WbsItem(
                    id=ref.id,
                    level=2,
                    parent_id=ref.phase_id,
                    name=ref.name,
                    description=ref.description,
                    deliverable=ref.deliverable,
                    owner_role="",
                    is_leaf=not tasks,
                    estimate=None if tasks else ref.estimate,
                )
            )
            for t, task in enumerate(tasks, start=1):
                items.append(
                    WbsItem(
                        id=f"{ref.id}.{t}",
                        level=3,
                        parent_id=ref.id,
                        name=task.name,
                        description=task.description,
                        deliverable="",
                        owner_role=task.owner_role,
                        is_leaf=True,
                        estimate=Estimate(
                            duration_days=task.duration_days, confidence=task.confidence, basis=task.basis
                        ),
                    )
                )
            sequence.extend(sequence_edges(ref.id, tasks))
    counts = WbsCounts(
        phases=sum(i.level == 1 for i in items),
        work_packages=sum(i.level == 2 for i in items),
        tasks=sum(i.level == 3 for i in items),
        leaves=sum(i.is_leaf for i in items),
    )
    return WbsOutput(counts=counts, items=items, sequence=sequence)


def outline(level1: WbsLevel1Output, level2: WbsLevel2Output | None = None) -> str:
    """The WBS so far as an indented list with ids, for prompts."""
    lines = []
    refs = package_refs(level1, level2) if level2 else []
    for p, phase in enumerate(level1.phases, start=1):
        lines.append(f"{p}. {phase.name}: {phase.objective}")
        lines.extend(f"   {r.id} {r.name}: {r.description}" for r in refs if r.phase_id == str(p))
    return "\n".join(lines)


class WbsLevel1(LLMStep):
    title = "WBS level 1: phases"
    depends_on = (ProjectPlan, PhysicalLocations)
    output_model = WbsLevel1Output
    system_prompt = LEVEL1_SYSTEM


class WbsLevel2(LLMStep):
    title = "WBS level 2: work packages"
    depends_on = (ProjectPlan, WbsLevel1)
    output_model = WbsLevel2Output
    system_prompt = LEVEL2_SYSTEM

    def user_prompt(self) -> str:
        return f"{self.brief(ProjectPlan)}\n\n# Level-1 phases\n{outline(self.load(WbsLevel1))}"


class WbsLevel3(PlanTask):
    title = "WBS level 3: tasks"
    depends_on = (ProjectPlan, WbsLevel1, WbsLevel2)
    output_model = WbsLevel3Output
    system_prompt = LEVEL3_SYSTEM
    calls_full = PHASES * EXPANDED_PER_PHASE_FULL
    calls_fast = PHASES * EXPANDED_PER_PHASE_FAST
    batched = True

    async def produce(self) -> WbsLevel3Output:
        level1: WbsLevel1Output = self.load(WbsLevel1)
        level2: WbsLevel2Output = self.load(WbsLevel2)
        context = f"{self.brief(ProjectPlan)}\n\n# Work breakdown structure so far\n{outline(level1, level2)}"

        async def expand(ref: PackageRef) -> PackageExpansion:
            user = f"{context}\n\n# The work package to break down ({ref.id})\n{compact(ref)}"
            answer = await self.ask(self.system_prompt, user, TaskBreakdown, label=ref.id)
            return PackageExpansion(package_id=ref.id, tasks=answer.tasks)

        targets = expanded_packages(package_refs(level1, level2), self.detail)
        return WbsLevel3Output(expansions=await self.batch(targets, expand))


class Wbs(PlanTask):
    title = "Work breakdown structure"
    depends_on = (WbsLevel1, WbsLevel2, WbsLevel3)
    output_model = WbsOutput

    async def produce(self) -> WbsOutput:
        return build_wbs(self.load(WbsLevel1), self.load(WbsLevel2), self.load(WbsLevel3))
