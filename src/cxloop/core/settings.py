"""Typed settings read from the environment (prefix ``CXLOOP_``)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development"})


class Settings(BaseSettings):
    """Everything cxloop reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="CXLOOP_", env_file=None, extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "cxloop-data")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    # Keys used before the current one, comma-separated: links and forms signed with them keep
    # working (list an old key here when changing CXLOOP_SECRET_KEY, for as long as the
    # invitations made under it may still be answered).
    previous_secret_keys: str = ""
    session_idle_minutes: int = 60
    # Sign-in: an e-mail's failed tries before each next one waits a doubling delay (1 s, 2 s,
    # 4 s …) of at most login_max_delay_minutes; no hard lock, and an address the account
    # signed in from lately is not held. One client address may fail login_address_failures
    # times (a moving window, any e-mails) before it gets 429.
    login_max_failures: int = 5
    login_max_delay_minutes: int = 15
    login_address_failures: str = "20 per 15 minutes"
    bus_poll_seconds: float = 0.5
    bus_batch_size: int = 1000
    secure_cookies: bool = False
    default_locale: Literal["ko", "en"] = "ko"
    # The largest request bodies, in bytes, refused with 413 before anything reads them: forms
    # and JSON APIs; imports through the API (a batch of up to 1,000 survey responses); the
    # public survey pages and widget, which anyone may post to (a survey page itself refuses
    # answers over 256 KB, in the respondent's language). Ingestion (/v1) keeps Segment's
    # limits: 500 KB a batch, 32 KB a call.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_import_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Raw mail posted to an inbox's inbound webhook (attachments included).
    max_inbound_mail_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Files attached to conversation messages: the largest one kept, and the most a message
    # keeps in all (larger ones are recorded as not kept; the message itself always is).
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_message_attachment_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    max_message_attachments: int = Field(default=20, ge=1, le=200)
    max_public_body_bytes: int = Field(default=512 * 1024, ge=1024)
    # The most fields a url-encoded or multipart form may have (the survey editor posts about
    # 1,200 for a survey of 100 questions).
    max_form_fields: int = Field(default=2000, ge=10)
    # The address customers and members reach cxloop at, used in links inside emails.
    public_url: str = "http://127.0.0.1:8000"
    # Outgoing mail (survey invitations, notices, team notifications). No host: mail is kept
    # in the outbox, unsent, until one is configured.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    # CA certificates (PEM) that sign the SMTP server's certificate, for a relay with a private
    # CA; the system's CAs otherwise. The certificate and its host name are always checked.
    smtp_ca_file: Path | None = None
    smtp_timeout_seconds: float = 30.0
    # CA certificates (PEM) that sign the IMAP servers' certificates of care mailboxes, for a
    # server with a private CA; the system's CAs otherwise.
    imap_ca_file: Path | None = None
    mail_from: str = "cxloop <no-reply@localhost>"
    # Text messages (SMS/LMS) through Solapi: ready once the API key, its secret and the sender
    # number registered with Solapi are set; until then text messages wait in the outbox.
    solapi_base_url: str = "https://api.solapi.com"
    solapi_api_key: str | None = None
    solapi_api_secret: SecretStr | None = None
    sms_sender: str | None = None
    # KakaoTalk Alimtalk through NHN Cloud: ready once the app key, its secret key and the
    # KakaoTalk channel's sender key are set. A customer without KakaoTalk gets the text as
    # SMS/LMS from CXLOOP_SMS_SENDER (when it is set). The webhook signature, when set, is the
    # one entered in NHN Cloud's webhook settings, and the delivery-result webhook checks it.
    nhn_alimtalk_base_url: str = "https://api-alimtalk.cloud.toast.com"
    nhn_appkey: str | None = None
    nhn_secret_key: SecretStr | None = None
    kakao_sender_key: str | None = None
    nhn_webhook_signature: SecretStr | None = None
    # Naver TalkTalk: agents' replies go to the chat bot API's event endpoint with the partner
    # account's token (TalkTalk partner centre: API settings > send API); until it is set,
    # replies wait in the outbox.
    talktalk_api_url: str = "https://gw.talk.naver.com"
    talktalk_partner_token: SecretStr | None = None
    # How long a provider's HTTP API may take to connect and to answer, in seconds.
    provider_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Behind a reverse proxy or load balancer: the addresses or networks (CIDR) of the proxies
    # whose X-Forwarded-For is believed, comma-separated. None by default: the address the
    # connection comes from is the client's (see core.http.client_address).
    trusted_proxies: str = ""
    # Rate limits on what anyone may send without signing in, as the ``limits`` library writes
    # them ("10 per 10 minutes"): every survey page and widget call from one client address;
    # answers from one address to one public survey link; answers to one public link from
    # everyone; posts (autosaves included) to one personal survey link.
    survey_client_limit: str = "120 per minute"
    survey_answer_limit: str = "10 per 10 minutes"
    survey_link_limit: str = "1000 per 10 minutes"
    personal_link_limit: str = "60 per 10 minutes"
    # Ingestion (/v1), whose write keys are public: the events one write key may send, each
    # event of a batch counted (a thousand a second on average, past which Segment queues a
    # workspace's events unless arranged otherwise, and up to a minute's worth in a burst); and
    # the calls with a missing, unknown or revoked write key one client address may make
    # before such calls get 429 instead of 401, until they age out (a valid key still passes).
    ingest_write_key_limit: str = "60000 per minute"
    ingest_bad_key_limit: str = "60 per minute"
    # New follow-ups of one survey and team are announced one by one up to this many within the
    # window; the rest of a burst is told in one digest per team when its window ends.
    follow_up_notice_burst: int = Field(default=3, ge=0)
    follow_up_notice_window_minutes: int = Field(default=10, ge=1, le=24 * 60)

    @field_validator(
        "survey_client_limit",
        "survey_answer_limit",
        "survey_link_limit",
        "personal_link_limit",
        "ingest_write_key_limit",
        "ingest_bad_key_limit",
    )
    @classmethod
    def _rate_limit_rule(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a rate limit such as '10 per 10 minutes'") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        import ipaddress

        for item in value.split(","):
            if item.strip():
                try:
                    ipaddress.ip_network(item.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{item.strip()!r} is not an address or network") from None
        return value

    @model_validator(mode="after")
    def _resolve_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser().resolve()
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'cxloop.db'}"
        placeholder = self.secret_key is not None and (
            self.secret_key.strip().lower() in PLACEHOLDER_SECRETS
        )
        if placeholder and self.env != "development":
            raise ValueError(
                "CXLOOP_SECRET_KEY is a placeholder; set a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self

    @property
    def db_url(self) -> str:
        assert self.database_url is not None
        return self.database_url

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    def resolved_secret_key(self) -> str:
        """The secret key: from the environment, else generated once and kept in the data dir."""
        if self.secret_key and self.secret_key.strip().lower() not in PLACEHOLDER_SECRETS:
            return self.secret_key
        if self.secret_key and self.env == "development":
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key

    def secret_keys(self) -> list[str]:
        """The current secret key, then the previous ones: every key a signature may carry."""
        previous = [k.strip() for k in self.previous_secret_keys.split(",") if k.strip()]
        return [self.resolved_secret_key(), *previous]


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (after the environment changed, e.g. in tests)."""
    get_settings.cache_clear()
