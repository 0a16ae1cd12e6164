"""Base class for every settings section: frozen, and a misspelt key is an error."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    # extra="forbid" on the root does not reach nested models: every section repeats it.
    model_config = ConfigDict(extra="forbid", frozen=True)
