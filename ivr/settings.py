"""Settings of the voice side: FastAGI server and AMI monitor."""

from pydantic import Field, SecretStr

from gateway.section import Section


class AgiSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(4573, ge=1, le=65535)
    max_calls: int = Field(200, ge=1)


class AmiSettings(Section):
    # No host: the AMI monitor does not start.
    host: str | None = None
    port: int = Field(5038, ge=1, le=65535)
    username: str = "tracuu"
    password: SecretStr = SecretStr("")
