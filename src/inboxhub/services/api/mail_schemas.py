"""Request/response shapes of labels, the trash, deletion, label counts and the
changes feed (what OpenAPI shows)."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from inboxhub.domain.errors import InvalidInput
from inboxhub.domain.labels import MAX_LABEL_LENGTH, check_label, relabel

MAX_BULK_IDS = 1000
MAX_LABELS = 100  # names in one list of a change

LabelName = Annotated[str, Field(min_length=1, max_length=MAX_LABEL_LENGTH)]
Labels = Annotated[list[LabelName], Field(max_length=MAX_LABELS)]
Ids = Annotated[list[str], Field(min_length=1, max_length=MAX_BULK_IDS)]


class LabelsChange(BaseModel):
    """Labels to add and to remove, or (``replace``) every label at once. Names are the
    provider's folders or labels, exactly; the trash is not a label to set here (use
    ``/trash`` and ``/untrash``), and an email in the trash stays there."""

    model_config = ConfigDict(extra="forbid")

    add: Labels = []
    remove: Labels = []
    replace: Labels | None = Field(
        default=None, description="every label the email is to have (instead of add/remove)"
    )

    @model_validator(mode="after")
    def _valid(self) -> Self:
        try:
            for name in [*self.add, *self.remove, *(self.replace or [])]:
                check_label(name)
        except InvalidInput as exc:
            raise ValueError(exc.detail) from exc
        if self.replace is not None and (self.add or self.remove):
            raise ValueError("give either replace, or add and/or remove")
        if both := sorted(set(self.add) & set(self.remove)):
            raise ValueError(f"labels both added and removed: {', '.join(both)}")
        return self

    @property
    def empty(self) -> bool:
        return self.replace is None and not (self.add or self.remove)

    def applied_to(self, labels: list[str]) -> list[str]:
        return relabel(labels, self.add, self.remove, self.replace)


class BulkLabels(LabelsChange):
    """Change the labels of up to 1000 emails at once."""

    ids: Ids


class BulkIds(BaseModel):
    """Up to 1000 emails."""

    model_config = ConfigDict(extra="forbid")

    ids: Ids


class BulkResult(BaseModel):
    updated: int = Field(description="emails changed (those already so are not)")
    not_found: list[str] = Field(description="ids that name no email of the tenant")


class BulkDeleteResult(BaseModel):
    deleted: int
    not_found: list[str] = Field(description="ids that name no email of the tenant")


class LabelCountItem(BaseModel):
    name: str
    total: int
    unread: int = Field(description="emails not seen")


class LabelList(BaseModel):
    items: list[LabelCountItem]


class Changes(BaseModel):
    """JMAP's ``Email/changes``: what happened to the caller's emails between two
    states. Ask again from ``new_state`` (at once while ``has_more``). A change is
    reported at least once, and an email may be listed although nothing a client
    shows changed (fetch it and compare)."""

    old_state: str
    new_state: str
    created: list[str]
    updated: list[str]
    destroyed: list[str]
    has_more: bool


class ChangeState(BaseModel):
    state: str = Field(description="ask /api/v1/changes?since= with it for what follows")
