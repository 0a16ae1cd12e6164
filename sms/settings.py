"""Settings of the SMS side: the SMPP link, replies and reminders."""

from pydantic import Field, SecretStr

from gateway.section import Section


class SmppSettings(Section):
    # No host: the SMPP link does not start (demo mode starts a local test SMSC instead).
    host: str | None = None
    port: int = Field(2775, ge=1, le=65535)
    system_id: str = ""
    password: SecretStr = SecretStr("")
    system_type: str = ""
    source_addr: str = "8088"
    source_ton: int = Field(3, ge=0, le=6)  # 3 = network specific: a short code
    source_npi: int = Field(0, ge=0, le=18)
    tls: bool = False


class SmsSettings(Section):
    # Unaccented GSM-7 fits 160 characters a segment; diacritics force UCS-2 (70).
    accents: bool = False
