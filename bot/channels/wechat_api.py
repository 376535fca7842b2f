"""Client of the WeChat Official Account API the channel needs: the access token and the
customer-service message (客服消息) that carries the bot's answers to a user."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.weixin.qq.com"
TIMEOUT = 5
# Refresh a little before WeChat's expiry so a token never dies between check and use.
EXPIRY_MARGIN = 300
# The token was rejected: invalid credential, expired, invalid token.
TOKEN_ERRORS = {40001, 42001, 40014}
SYSTEM_BUSY = -1
# Our own codes: the request never reached WeChat (safe to repeat), or its fate is unknown (a
# read timeout or a garbled answer: repeating could deliver the message twice).
NOT_SENT = -3
UNKNOWN = -4


class WeChatApiError(Exception):
    """WeChat answered with a non-zero errcode, or could not be reached."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode, self.errmsg = errcode, errmsg


class WeChatApi:
    """Access token cached until shortly before it expires; sends text customer-service messages.

    Thread-safe: the Rasa server sends from a thread pool.
    """

    def __init__(
        self,
        appid: str,
        secret: str,
        api_base: str = DEFAULT_API_BASE,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.appid, self.secret = appid, secret
        self.api_base = api_base.rstrip("/")
        self.session = session or requests.Session()
        self.clock = clock
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._lock = threading.Lock()

    def access_token(self, stale: str | None = None) -> str:
        """A valid access token, fetched from WeChat only when the cached one is missing, about
        to expire, or was rejected (`stale`: the rejected token; another thread may have
        refreshed it already)."""
        with self._lock:
            cached = self._token
            if cached and self.clock() < self._token_expires_at and stale != cached:
                return cached
            data = self._call(
                "GET", "/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": self.appid,
                        "secret": self.secret},
            )
            token = data.get("access_token")
            if not token:
                raise WeChatApiError(-2, "no access_token in WeChat's answer")
            expires_in = int(data.get("expires_in") or 7200)
            self._token = token
            self._token_expires_at = self.clock() + max(expires_in - EXPIRY_MARGIN, 60)
            logger.info("WeChat access token refreshed (valid %s s)", expires_in)
            return token

    def send_text(self, openid: str, content: str) -> None:
        """Send a text customer-service message; refreshes the token once if WeChat rejects it
        and retries once when WeChat is busy or unreachable."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        self._send(body)

    def _send(self, body: dict[str, Any]) -> None:
        token = self.access_token()
        for attempt in range(3):
            try:
                self._call(
                    "POST", "/cgi-bin/message/custom/send",
                    params={"access_token": token}, json_body=body,
                )
                return
            except WeChatApiError as exc:
                if exc.errcode in TOKEN_ERRORS and attempt < 2:
                    logger.info("WeChat rejected the access token (%s); refreshing", exc.errcode)
                    token = self.access_token(stale=token)
                    continue
                if exc.errcode in (SYSTEM_BUSY, NOT_SENT) and attempt == 0:
                    time.sleep(0.5)
                    continue
                raise

    def _call(
        self, method: str, path: str, params: dict[str, str],
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One HTTP call; WeChat reports errors as 200 with a non-zero errcode."""
        try:
            response = self.session.request(
                method, self.api_base + path, params=params, timeout=TIMEOUT,
                # WeChat expects UTF-8 Chinese as is, not \\u escapes.
                data=None if json_body is None else _json_bytes(json_body),
                headers=None if json_body is None else {"Content-Type": "application/json"},
            )
            response.raise_for_status()
            data = response.json()
        except (requests.ConnectionError, requests.ConnectTimeout) as exc:
            raise WeChatApiError(NOT_SENT, f"WeChat API unreachable: {exc}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise WeChatApiError(UNKNOWN, f"WeChat API failed or answered garbage: {exc}") from exc
        if not isinstance(data, dict):
            raise WeChatApiError(UNKNOWN, "WeChat API answered with something other than an object")
        errcode = int(data.get("errcode") or 0)
        if errcode:
            raise WeChatApiError(errcode, str(data.get("errmsg", "")))
        return data


def _json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
