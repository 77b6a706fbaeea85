"""Documents: identify those to find and those to create, keep the most important of each, and
draft them in a batch.

Both lists go through the same two implementations, ``FilterDocuments`` and
``DraftDocuments``, parameterised by which list they work on (``DocumentKind``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep, PlanTask
from planexe.plan.common import by_detail, compact, id_enum, list_of, retype, system_prompt
from planexe.plan.locations import Currency, PhysicalLocations
from planexe.plan.project_plan import ProjectPlan
from planexe.plan.text import Brief, Code, Label, Paragraph, Phrase, Sentence

CANDIDATES_MIN = 10  # more candidates than SELECTED, so the filter has a real choice
SELECTED = 8  # kept by each filter
DRAFTED_FULL = SELECTED
DRAFTED_FAST = 3

IDENTIFY_SYSTEM = system_prompt(f"""\
You are a project coordinator preparing the paperwork of this project. Make two lists, each ordered \
by importance and each with at least {CANDIDATES_MIN} entries:
1. documents_to_find: existing documents the team must obtain, such as laws and regulations, \
permit application forms, standards, market and statistical data, maps and site data, templates. \
Name them as precisely as you can for the project's locations ("Danish hygiene rules for food \
businesses") and say where they are likely to be found.
2. documents_to_create: documents the project must write itself, such as the business case, permit \
applications, contracts, policies, plans, specifications, reports.
Give each a short reason tied to the plan.""")

FILTER_SYSTEM = system_prompt(f"""\
You are the project manager deciding which documents matter most. From the candidate documents \
listed with ids, select exactly {SELECTED} that the project needs first: those that unlock permits, \
funding, key decisions or work on the critical path. Skip near-duplicates and nice-to-haves. Give \
each selected document a priority and a one-sentence reason.""")

DRAFT_FIND_SYSTEM = system_prompt("""\
You are a research assistant preparing a search brief for one document the project must obtain \
(described at the end of the message). Say what the document is and what the project needs from \
it, where to look (name the authority, registry, website or organisation), the search terms to \
use, the facts to extract, how to make sure it is the current official version, and what to do if \
it cannot be found. Be specific to the project's location; do not make up document numbers or \
web addresses.""")

DRAFT_CREATE_SYSTEM = system_prompt("""\
You are a professional writer drafting the first version of one document the project must produce \
(described at the end of the message). Write a usable first draft: its purpose, then each section \
with a heading and real draft text for this project, using the names, places, amounts in the plan's \
currency and dates from the plan rather than placeholders such as "[insert here]". End with the \
open questions its owner must settle before the document is final, and name the role that owns \
it.""")

Priority = Literal["critical", "high", "medium"]
PRIORITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "medium": 2}


class DocumentToFind(BaseModel):
    name: Phrase = Field(description="Precise name of the document.")
    kind: Literal[
        "law_or_regulation",
        "permit_or_form",
        "standard",
        "market_data",
        "statistics",
        "site_data",
        "template",
        "other",
    ]
    likely_source: Phrase = Field(description="Where it is likely to be found.")
    why_needed: Sentence = Field(description="What the plan needs it for.")


class DocumentToCreate(BaseModel):
    name: Label = Field(description="Name of the document.")
    kind: Literal[
        "business_case", "application", "contract", "policy", "plan", "specification", "report", "other"
    ]
    audience: Label = Field(description="Who reads or signs it.")
    why_needed: Sentence = Field(description="What the plan needs it for.")


class IdentifyDocumentsOutput(BaseModel):
    documents_to_find: list[DocumentToFind] = Field(min_length=CANDIDATES_MIN, max_length=14)
    documents_to_create: list[DocumentToCreate] = Field(min_length=CANDIDATES_MIN, max_length=14)


class Selection(BaseModel):
    document_id: Code = Field(description="Id of the selected document, e.g. 'F3'.")
    priority: Priority = Field(description="How urgently the project needs it.")
    reason: Sentence = Field(description="Why it is needed first, in one sentence.")


class SelectionAnswer(BaseModel):
    selected: list[Selection] = Field(min_length=SELECTED, max_length=SELECTED)


class SelectedDocument(BaseModel):
    id: str
    name: str
    priority: Priority
    reason: str


class FilteredDocuments(BaseModel):
    documents: list[SelectedDocument] = Field(description="Most urgent first.")


class SearchBrief(BaseModel):
    summary: Brief = Field(description="What the document is and what the project needs from it.")
    where_to_look: list[Phrase] = Field(min_length=1, max_length=3, description="Named places to look.")
    search_terms: list[Label] = Field(min_length=2, max_length=4)
    facts_to_extract: list[Phrase] = Field(min_length=2, max_length=4)
    verification: Sentence = Field(description="How to make sure it is the current official version.")
    if_not_found: Sentence = Field(description="What to do if it cannot be found.")


class DraftSection(BaseModel):
    heading: Label
    text: Paragraph = Field(
        description="Draft text of the section, two to four sentences, specific to the project."
    )


class DocumentDraft(BaseModel):
    purpose: Sentence = Field(description="What the document is for.")
    sections: list[DraftSection] = Field(min_length=3, max_length=6)
    open_questions: list[Sentence] = Field(min_length=1, max_length=3)
    owner_role: Label = Field(description="Role that owns the document.")


class FoundDocumentBrief(SearchBrief):
    id: str
    name: str
    priority: Priority


class CreatedDocumentDraft(DocumentDraft):
    id: str
    name: str
    priority: Priority


class DocumentsToFindOutput(BaseModel):
    documents: list[FoundDocumentBrief]


class DocumentsToCreateOutput(BaseModel):
    documents: list[CreatedDocumentDraft]


@dataclass(frozen=True)
class DocumentKind:
    """Which list a filter or drafting step works on."""

    field: Literal["documents_to_find", "documents_to_create"]
    id_prefix: str  # F1, F2, ... or C1, C2, ...
    noun: str  # for prompts


FIND = DocumentKind("documents_to_find", "F", "documents to find")
CREATE = DocumentKind("documents_to_create", "C", "documents to create")


def candidates(identified: IdentifyDocumentsOutput, kind: DocumentKind) -> dict[str, BaseModel]:
    items: list[BaseModel] = list(getattr(identified, kind.field))
    return {f"{kind.id_prefix}{i}": item for i, item in enumerate(items, start=1)}


def select_documents(
    pool: dict[str, BaseModel], picks: list[Selection], count: int
) -> list[SelectedDocument]:
    """The model's picks without repeats, topped up in the original order of importance, most urgent first."""
    chosen: dict[str, Selection] = {}
    for pick in picks:
        if pick.document_id in pool and pick.document_id not in chosen:
            chosen[pick.document_id] = pick
    for doc_id in pool:
        if len(chosen) >= count:
            break
        chosen.setdefault(
            doc_id, Selection(document_id=doc_id, priority="medium", reason="Next most important candidate.")
        )
    selected = [
        SelectedDocument(
            id=s.document_id,
            name=getattr(pool[s.document_id], "name", ""),
            priority=s.priority,
            reason=s.reason,
        )
        for s in list(chosen.values())[:count]
    ]
    return sorted(selected, key=lambda d: PRIORITY_ORDER[d.priority])


class IdentifyDocuments(LLMStep):
    title = "Documents to find and to create"
    depends_on = (ProjectPlan, PhysicalLocations)
    output_model = IdentifyDocumentsOutput
    system_prompt = IDENTIFY_SYSTEM


class FilterDocuments(PlanTask):
    """Keep the most important documents of one list (shared by both lists)."""

    kind: ClassVar[DocumentKind]
    depends_on = (ProjectPlan, IdentifyDocuments)
    output_model = FilteredDocuments
    system_prompt = FILTER_SYSTEM
    calls_full = 1

    async def produce(self) -> FilteredDocuments:
        pool = candidates(self.load(IdentifyDocuments), self.kind)
        asked = retype(SelectionAnswer, selected=list_of(retype(Selection, document_id=id_enum(list(pool)))))
        listing = "\n".join(f"{doc_id}: {compact(doc)}" for doc_id, doc in pool.items())
        user = f"{self.brief(ProjectPlan)}\n\n# Candidate {self.kind.noun}\n{listing}"
        answer = await self.ask(self.system_prompt, user, asked)
        return FilteredDocuments(documents=select_documents(pool, answer.selected, SELECTED))


class FilterDocumentsToFind(FilterDocuments):
    title = "Documents to find: selection"
    kind = FIND


class FilterDocumentsToCreate(FilterDocuments):
    title = "Documents to create: selection"
    kind = CREATE


class DraftDocuments(PlanTask):
    """Draft each selected document of one list, one call per document (shared by both lists)."""

    kind: ClassVar[DocumentKind]
    selection_task: ClassVar[type[FilterDocuments]]
    draft_model: ClassVar[type[BaseModel]]  # what one call answers
    calls_full = DRAFTED_FULL
    calls_fast = DRAFTED_FAST
    batched = True
    system_prompt: ClassVar[str]

    async def produce(self) -> BaseModel:
        pool = candidates(self.load(IdentifyDocuments), self.kind)
        selection: FilteredDocuments = self.load(self.selection_task)
        chosen = selection.documents[: by_detail(self.detail, DRAFTED_FULL, DRAFTED_FAST)]
        context = self.brief(ProjectPlan, PhysicalLocations, Currency)

        async def draft(doc: SelectedDocument) -> dict[str, Any]:
            user = f"{context}\n\n# The document ({doc.priority} priority: {doc.reason})\n{compact(pool[doc.id])}"
            answer = await self.ask(self.system_prompt, user, self.draft_model, label=doc.id)
            return {"id": doc.id, "name": doc.name, "priority": doc.priority, **answer.model_dump()}

        return self.output_model.model_validate({"documents": await self.batch(chosen, draft)})


class DraftDocumentsToFind(DraftDocuments):
    title = "Documents to find"
    kind = FIND
    selection_task = FilterDocumentsToFind
    draft_model = SearchBrief
    depends_on = (ProjectPlan, PhysicalLocations, Currency, IdentifyDocuments, FilterDocumentsToFind)
    output_model = DocumentsToFindOutput
    system_prompt = DRAFT_FIND_SYSTEM


class DraftDocumentsToCreate(DraftDocuments):
    title = "Documents to create"
    kind = CREATE
    selection_task = FilterDocumentsToCreate
    draft_model = DocumentDraft
    depends_on = (ProjectPlan, PhysicalLocations, Currency, IdentifyDocuments, FilterDocumentsToCreate)
    output_model = DocumentsToCreateOutput
    system_prompt = DRAFT_CREATE_SYSTEM
