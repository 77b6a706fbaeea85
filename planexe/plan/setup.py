"""The root of the DAG: what is being planned, read from ``plan.json`` (no LLM)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from planexe.pipeline.base import PlanTask


class SetupOutput(BaseModel):
    prompt: str = Field(description="The project description exactly as the user wrote it.")
    detail: Literal["full", "fast"] = Field(description="How much detail the plan is produced in.")
    plan_id: str = Field(description="Identifier of the plan, empty when run outside the service.")
    words: int = Field(ge=0, description="Number of words in the project description.")


class Setup(PlanTask):
    title = "Project description"
    output_model = SetupOutput
    quotable = False  # its content is the project description, which every brief already opens with

    async def produce(self) -> SetupOutput:
        prompt = self.plan.prompt
        return SetupOutput(
            prompt=prompt, detail=self.detail, plan_id=self.plan.plan_id, words=len(prompt.split())
        )
