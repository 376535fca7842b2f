"""A local fake of the WeChat Official Account API (access token and customer-service messages),
served over real HTTP on a free port, that records what the bot sends; plus helpers that build
callbacks the way WeChat's servers do."""
from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from bot.channels.wechat_crypto import WeChatCrypto, sign

TOKEN = "shop-callback-token"
APPID = "wx0123456789abcdef"
SECRET = "fake-app-secret"
AES_KEY = "kWxPEV2UEDyxWpmPdKMvTXkLyqBTBMkQLgnYzC7dGsA"
ACCOUNT = "gh_0123456789ab"


class FakeWeChat:
    """The fake platform; `messages` are the customer-service messages it accepted."""

    def __init__(self, appid: str = APPID, secret: str = SECRET) -> None:
        self.appid, self.secret = appid, secret
        self.messages: list[dict[str, Any]] = []
        self.token_requests = 0
        self.rejected_sends: list[int] = []
        self.busy_sends = 0  # how many next sends answer "system busy" (errcode -1)
        self.valid_tokens: set[str] = set()
        self.expired_tokens: set[str] = set()
        self.lock = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeWeChat:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def expire_tokens(self) -> None:
        """Every token issued so far expires (the next send gets errcode 42001)."""
        with self.lock:
            self.expired_tokens |= self.valid_tokens
            self.valid_tokens = set()

    def texts_to(self, openid: str) -> list[str]:
        """The texts accepted for `openid`, in order."""
        with self.lock:
            return [m["text"]["content"] for m in self.messages if m["touser"] == openid]

    def wait_for_texts(self, openid: str, count: int = 1, timeout: float = 30) -> list[str]:
        """Block until `count` texts reached `openid` (fails with what arrived otherwise)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.texts_to(openid)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{count} message(s) to {openid} expected, got {self.texts_to(openid)}")
                self.lock.wait(left)
            return self.texts_to(openid)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # keep pytest's output clean
                pass

            def _answer(self, body: dict[str, Any]) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path != "/cgi-bin/token":
                    return self._answer({"errcode": 404, "errmsg": "not found"})
                if query.get("grant_type") != "client_credential":
                    return self._answer({"errcode": 40002, "errmsg": "invalid grant_type"})
                if query.get("appid") != fake.appid:
                    return self._answer({"errcode": 40013, "errmsg": "invalid appid"})
                if query.get("secret") != fake.secret:
                    return self._answer({"errcode": 40125, "errmsg": "invalid appsecret"})
                token = secrets.token_urlsafe(24)
                with fake.lock:
                    fake.token_requests += 1
                    fake.valid_tokens.add(token)
                return self._answer({"access_token": token, "expires_in": 7200})

            def do_POST(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                token = parse_qs(url.query).get("access_token", [""])[0]
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if url.path != "/cgi-bin/message/custom/send":
                    return self._answer({"errcode": 404, "errmsg": "not found"})
                with fake.lock:
                    if token in fake.expired_tokens:
                        fake.rejected_sends.append(42001)
                        return self._answer({"errcode": 42001, "errmsg": "access_token expired"})
                    if fake.busy_sends:
                        fake.busy_sends -= 1
                        fake.rejected_sends.append(-1)
                        return self._answer({"errcode": -1, "errmsg": "system error"})
                    if token not in fake.valid_tokens:
                        fake.rejected_sends.append(40001)
                        return self._answer({"errcode": 40001, "errmsg": "invalid credential"})
                    content = body.get("text", {}).get("content", "")
                    if body.get("msgtype") != "text" or not content or not body.get("touser"):
                        return self._answer({"errcode": 44003, "errmsg": "empty news data"})
                    fake.messages.append(body)
                    fake.lock.notify_all()
                return self._answer({"errcode": 0, "errmsg": "ok"})

        return Handler


def text_xml(openid: str, content: str, msg_id: int, create_time: int | None = None) -> str:
    """A text message as WeChat posts it (a "]]>" in the text split across two CDATA)."""
    escaped = content.replace("]]>", "]]]]><![CDATA[>")
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{escaped}]]></Content>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, create_time: int | None = None) -> str:
    """An event (subscribe, unsubscribe, ...) as WeChat posts it."""
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event></xml>"
    )


def media_xml(openid: str, kind: str, msg_id: int) -> str:
    """An image or voice message (no speech recognition) as WeChat posts it."""
    extra = ("<PicUrl><![CDATA[http://mmbiz.qpic.cn/x.jpg]]></PicUrl>" if kind == "image"
             else "<Format><![CDATA[amr]]></Format>")
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
        f"{extra}<MediaId><![CDATA[media_{msg_id}]]></MediaId><MsgId>{msg_id}</MsgId></xml>"
    )


def plain_query(token: str = TOKEN, timestamp: int | None = None) -> dict[str, str]:
    """The query string of a plaintext-mode callback or handshake."""
    ts, nonce = str(timestamp or int(time.time())), secrets.token_hex(5)
    return {"timestamp": ts, "nonce": nonce, "signature": sign(token, ts, nonce),
            "openid": "ignored"}


def encrypted_callback(xml: str, token: str = TOKEN, appid: str = APPID,
                       aes_key: str = AES_KEY) -> tuple[dict[str, str], str]:
    """Query string and body of a safe-mode callback carrying `xml`."""
    encrypted = WeChatCrypto(aes_key, appid).encrypt(xml)
    ts, nonce = str(int(time.time())), secrets.token_hex(5)
    query = {"timestamp": ts, "nonce": nonce, "signature": sign(token, ts, nonce),
             "encrypt_type": "aes", "msg_signature": sign(token, ts, nonce, encrypted)}
    body = (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
    return query, body
