"""The adapters cxloop has, by channel: the one list the sender and the receiving endpoints use."""

from __future__ import annotations

from cxloop.channels.adapters import Adapter
from cxloop.channels.email import EmailAdapter
from cxloop.channels.naver_talktalk import NaverTalkTalkAdapter
from cxloop.channels.nhn_alimtalk import AlimtalkAdapter
from cxloop.channels.solapi import SolapiAdapter
from cxloop.core.settings import Settings

ADAPTERS: dict[str, Adapter] = {
    adapter.channel: adapter
    for adapter in (EmailAdapter(), SolapiAdapter(), AlimtalkAdapter(), NaverTalkTalkAdapter())
}


def adapter_for(channel: str) -> Adapter:
    """The adapter of ``channel``; KeyError for a channel no adapter speaks yet."""
    return ADAPTERS[channel]


def ready_adapters(settings: Settings) -> list[Adapter]:
    """The adapters whose providers are configured, in a stable order."""
    return [ADAPTERS[name] for name in sorted(ADAPTERS) if ADAPTERS[name].ready(settings)]
