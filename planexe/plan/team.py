"""The team: roles first, each role detailed in a batch, a review, then a merge in code; and the
RACI matrix that assigns the roles to the work packages."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep, PlanTask
from planexe.plan.common import by_detail, compact, id_enum, list_of, retype, system_prompt
from planexe.plan.locations import Currency, CurrencyOutput, PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.risks import RiskRegister
from planexe.plan.text import Brief, Code, Label, Phrase, Sentence, bullets
from planexe.plan.wbs import PACKAGES_PER_PHASE, PHASES, WbsLevel1, WbsLevel2, outline, package_refs

TEAM_SIZE = 8  # roles found
ENRICHED_FULL = TEAM_SIZE
ENRICHED_FAST = 4  # fast detail keeps the four most essential roles
PACKAGE_COUNT = PHASES * PACKAGES_PER_PHASE

FIND_TEAM_SYSTEM = system_prompt(f"""\
You are a resourcing manager staffing this project. List exactly {TEAM_SIZE} roles the project \
needs to deliver its plan (the people who lead it, do the work and support it), the most essential \
first. Use role titles a recruiter would understand ("Head baker", "Food-safety consultant"), never \
names of people. For each role say why the project needs it, its category, and how many people in \
that role are needed at peak. Cover the specialist skills the locations, the scope and the risks \
demand; leave out a role whose work another role already covers.""")

ENRICH_SYSTEM = system_prompt("""\
You are an HR and staffing adviser detailing one role of the project team; the role is given at \
the end of the message, after the list of all roles. Decide how the project should engage this \
role (employee, part-time, contractor, consultant, partner organisation, volunteer) and why that \
fits the project's duration, budget and location; the background to look for, concretely (years of \
experience, certificates, comparable projects); the role's responsibilities in this project as \
concrete duties; its key skills; and a realistic monthly cost per person in the plan's currency at \
the location, employer costs included. Stay within this role; the others are detailed separately.""")

REVIEW_TEAM_SYSTEM = system_prompt("""\
You are a delivery director reviewing the proposed team before hiring starts. Compare the roles and \
their responsibilities with the plan's scope, deliverables, risks and budget. Find missing roles or \
skills, overlaps, single points of failure, and roles that are over- or under-sized or too costly. \
For each finding give the issue and a concrete fix. Then suggest the roles to add, only those truly \
needed (none is a valid answer).""")

RACI_SYSTEM = system_prompt("""\
You are a project manager assigning responsibility for every work package with a RACI matrix. For \
each work package (listed by id) name the role Responsible for doing the work, the one role \
Accountable for its result, and the roles to be Consulted and Informed. Use only the role titles \
given. A role may appear in many packages, but each package has exactly one accountable role; \
spread accountability so that no role carries most packages.""")

ContractType = Literal[
    "full_time_employee",
    "part_time_employee",
    "contractor",
    "consultant",
    "partner_organisation",
    "volunteer",
]


class TeamRole(BaseModel):
    title: Label = Field(description="Role title, e.g. 'Head baker'.")
    category: Literal["leadership", "delivery", "specialist", "operations", "support", "advisory"]
    why_needed: Sentence = Field(description="Why this project needs the role.")
    headcount: int = Field(ge=1, le=100, description="People in this role at peak.")


class FindTeamOutput(BaseModel):
    roles: list[TeamRole] = Field(
        min_length=TEAM_SIZE, max_length=TEAM_SIZE, description="Most essential first."
    )


class RoleProfile(BaseModel):
    contract_type: ContractType = Field(description="How the project engages this role.")
    contract_reason: Sentence = Field(description="Why that engagement fits.")
    background: Sentence = Field(description="Experience and qualifications to look for.")
    responsibilities: list[Phrase] = Field(
        min_length=3, max_length=5, description="Concrete duties in this project."
    )
    key_skills: list[Label] = Field(min_length=2, max_length=4)
    monthly_cost: float = Field(ge=0, description="Monthly cost per person in the plan's currency, all-in.")


class TeamMember(TeamRole, RoleProfile):
    pass


class EnrichTeamOutput(BaseModel):
    members: list[TeamMember]

    def prompt_digest(self) -> str:
        return bullets(
            f"{m.title} ×{m.headcount} ({m.contract_type.replace('_', ' ')}, {m.monthly_cost:,.0f} a month "
            f"each): {'; '.join(m.responsibilities)}"
            for m in self.members
        )


class TeamFinding(BaseModel):
    kind: Literal["missing_skill", "overlap", "single_point_of_failure", "sizing", "cost", "other"]
    issue: Sentence = Field(description="The problem, naming the roles involved.")
    fix: Sentence = Field(description="The concrete fix.")


class SuggestedRole(BaseModel):
    title: Label = Field(description="Role to add.")
    why: Sentence = Field(description="What gap it closes.")


class ReviewTeamOutput(BaseModel):
    findings: list[TeamFinding] = Field(min_length=2, max_length=5, description="Most important first.")
    suggested_roles: list[SuggestedRole] = Field(max_length=3)
    verdict: Brief = Field(description="Overall judgement of the team in one or two sentences.")


class TeamOutput(BaseModel):
    currency: str
    headcount: int = Field(ge=0, description="People at peak across the detailed roles.")
    monthly_cost: float = Field(ge=0, description="Monthly cost of the team at peak, in the plan's currency.")
    members: list[TeamMember]
    review_verdict: str
    findings: list[TeamFinding]
    suggested_roles: list[SuggestedRole]


class RaciAssignment(BaseModel):
    package_id: Code = Field(description="Id of the work package, e.g. '2.3'.")
    responsible: Label = Field(description="Role that does the work.")
    accountable: Label = Field(description="The one role accountable for the result.")
    consulted: list[Label] = Field(max_length=3)
    informed: list[Label] = Field(max_length=3)


class RaciAnswer(BaseModel):
    assignments: list[RaciAssignment] = Field(
        min_length=PACKAGE_COUNT,
        max_length=PACKAGE_COUNT,
        description="One per work package, in the order listed.",
    )


class RaciRow(RaciAssignment):
    package: str = Field(description="Name of the work package.")


class RoleLoad(BaseModel):
    role: str
    accountable: int = Field(ge=0, description="Packages it is accountable for.")
    responsible: int = Field(ge=0, description="Packages it is responsible for.")


class RaciOutput(BaseModel):
    rows: list[RaciRow]
    load: list[RoleLoad] = Field(description="Per role, the packages it carries.")


def merge_team(enriched: EnrichTeamOutput, review: ReviewTeamOutput, currency: str) -> TeamOutput:
    members = enriched.members
    return TeamOutput(
        currency=currency,
        headcount=sum(m.headcount for m in members),
        monthly_cost=round(sum(m.headcount * m.monthly_cost for m in members), 2),
        members=members,
        review_verdict=review.verdict,
        findings=review.findings,
        suggested_roles=review.suggested_roles,
    )


class FindTeam(LLMStep):
    title = "Team roles"
    depends_on = (ProjectPlan, PhysicalLocations, RiskRegister)
    output_model = FindTeamOutput
    system_prompt = FIND_TEAM_SYSTEM


class EnrichTeam(PlanTask):
    title = "Team roles in detail"
    depends_on = (ProjectPlan, PhysicalLocations, Currency, FindTeam)
    output_model = EnrichTeamOutput
    system_prompt = ENRICH_SYSTEM
    calls_full = ENRICHED_FULL
    calls_fast = ENRICHED_FAST
    batched = True

    async def produce(self) -> EnrichTeamOutput:
        found: FindTeamOutput = self.load(FindTeam)
        roles = found.roles[: by_detail(self.detail, ENRICHED_FULL, ENRICHED_FAST)]
        everyone = "\n".join(f"- {r.title} ×{r.headcount}" for r in roles)
        context = f"{self.brief(ProjectPlan, PhysicalLocations, Currency)}\n\n# All roles\n{everyone}"

        async def enrich(role: TeamRole) -> TeamMember:
            user = f"{context}\n\n# The role to detail\n{compact(role)}"
            profile = await self.ask(self.system_prompt, user, RoleProfile, label=role.title[:40])
            return TeamMember(**role.model_dump(), **profile.model_dump())

        return EnrichTeamOutput(members=await self.batch(roles, enrich))


class ReviewTeam(LLMStep):
    title = "Team review"
    depends_on = (ProjectPlan, RiskRegister, EnrichTeam)
    output_model = ReviewTeamOutput
    system_prompt = REVIEW_TEAM_SYSTEM


class Team(PlanTask):
    title = "Team"
    depends_on = (Currency, EnrichTeam, ReviewTeam)
    output_model = TeamOutput

    async def produce(self) -> TeamOutput:
        currency: CurrencyOutput = self.load(Currency)
        return merge_team(self.load(EnrichTeam), self.load(ReviewTeam), currency.currency)


def raci_load(rows: list[RaciRow]) -> list[RoleLoad]:
    roles = list(dict.fromkeys([r.accountable for r in rows] + [r.responsible for r in rows]))
    loads = [
        RoleLoad(
            role=role,
            accountable=sum(r.accountable == role for r in rows),
            responsible=sum(r.responsible == role for r in rows),
        )
        for role in roles
    ]
    return sorted(loads, key=lambda x: (-x.accountable, -x.responsible))


class Raci(PlanTask):
    title = "Responsibility matrix (RACI)"
    depends_on = (ProjectPlan, FindTeam, WbsLevel1, WbsLevel2)
    output_model = RaciOutput
    system_prompt = RACI_SYSTEM
    calls_full = 1

    async def produce(self) -> RaciOutput:
        level1, level2 = self.load(WbsLevel1), self.load(WbsLevel2)
        refs = package_refs(level1, level2)
        found: FindTeamOutput = self.load(FindTeam)
        titles = [r.title for r in found.roles]
        role = id_enum(titles)
        row = retype(
            RaciAssignment,
            package_id=id_enum([r.id for r in refs]),
            responsible=role,
            accountable=role,
            consulted=list_of(role),
            informed=list_of(role),
        )
        asked = retype(RaciAnswer, assignments=list_of(row))
        user = (
            f"{self.brief(ProjectPlan)}\n\n# Roles\n"
            + "\n".join(f"- {t}" for t in titles)
            + f"\n\n# Work packages\n{outline(level1, level2)}"
        )
        answer = await self.ask(self.system_prompt, user, asked)
        first: dict[str, RaciAssignment] = {}
        for a in answer.assignments:
            first.setdefault(a.package_id, a)
        rows = [
            RaciRow(**first[r.id].model_dump(), package=r.name)
            if r.id in first
            else RaciRow(
                package_id=r.id, package=r.name, responsible="", accountable="", consulted=[], informed=[]
            )
            for r in refs
        ]
        return RaciOutput(rows=rows, load=raci_load([r for r in rows if r.accountable]))
