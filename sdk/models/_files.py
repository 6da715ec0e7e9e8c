"""Client config files (import and export)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ClientFormatName = Literal[
    "claude-desktop", "claude-code", "cursor", "vscode", "cline", "windsurf", "continue"
]
CLIENT_FORMATS: tuple[ClientFormatName, ...] = (
    "claude-desktop",
    "claude-code",
    "cursor",
    "vscode",
    "cline",
    "windsurf",
    "continue",
)
OnConflict = Literal["fail", "skip", "replace", "rename"]
ImportAction = Literal["create", "replace", "skip", "rename", "error"]


class ImportRequest(BaseModel):
    """A client's MCP config file to import as servers."""

    model_config = ConfigDict(extra="forbid")

    format: ClientFormatName | None = Field(
        default=None, description="The client that wrote the file; absent means detect it."
    )
    content: dict[str, Any] | str = Field(
        description="The file: its JSON value, or its text for YAML (continue)."
    )
    on_conflict: OnConflict = Field(
        default="fail",
        description=(
            "When a server of that name exists: fail (nothing is written), skip it, replace "
            "it, or rename the imported one (name-2, name-3, ...)."
        ),
    )
    dry_run: bool = Field(default=False, description="Answer the plan; write nothing.")
    values: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Values of the file's references by name (`${VAR}` → VAR, `${input:id}` → id). "
            "Secrets: never echoed."
        ),
    )


class ImportNeed(BaseModel):
    reference: str = Field(description="The reference that had no value, by name.")
    loc: list[str | int] = Field(description="Where it is in the server's config.")


class ImportLine(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str = Field(description="The server's name in the file.")
    action: ImportAction
    as_: str | None = Field(alias="as", description="The name it is stored as, when renamed.")
    reason: str | None = Field(description="Why it is skipped, renamed or an error.")
    needs: list[ImportNeed] | None = Field(
        description="References without a value: the server is imported disabled until they "
        "are given (PATCH the server).",
    )


class ImportResponse(BaseModel):
    format: ClientFormatName
    written: bool = Field(description="Whether the servers were written (never on a dry run).")
    servers: list[ImportLine]


class ImportRefused(ImportResponse):
    """An import that wrote nothing: a conflict under on_conflict fail (409), or invalid servers
    (422); `servers` has the line of every server, the errors among them."""

    detail: str
