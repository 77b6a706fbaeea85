"""Questions people will ask about the plan, answered from it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from planexe.pipeline.base import LLMStep
from planexe.plan.common import system_prompt
from planexe.plan.digest import PlanDigest
from planexe.plan.text import Label, Paragraph, Sentence

QUESTIONS_SYSTEM = system_prompt("""\
You are the project lead preparing for the questions people will ask about this plan: the sponsor, \
a financier, a new team member, a sceptical neighbour or an authority. Write the questions they are \
most likely to ask, the hard ones included, and answer each from the plan digest with its numbers. \
Where the plan has no answer yet, say so and say how the answer will be found.""")


class QuestionAnswer(BaseModel):
    asked_by: Label = Field(description="Who would ask it, e.g. 'the bank'.")
    question: Sentence
    answer: Paragraph = Field(description="The answer from the plan, two to four sentences.")


class QuestionsAnswersOutput(BaseModel):
    items: list[QuestionAnswer] = Field(min_length=6, max_length=8)


class QuestionsAndAnswers(LLMStep):
    title = "Questions and answers"
    depends_on = (PlanDigest,)
    output_model = QuestionsAnswersOutput
    system_prompt = QUESTIONS_SYSTEM
