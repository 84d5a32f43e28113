"""One IMAP connection over asyncio streams: connect (implicit TLS, STARTTLS or
plain) to an address already vetted by ``net_guard``, authenticate, and run tagged
commands while handing their untagged responses to the caller as they arrive.

Why not aioimaplib or imapclient: aioimaplib 2.0 has no STARTTLS, cannot verify a
certificate against the host name when connecting to a pre-resolved address (our
SSRF guard needs exactly that), drops untagged responses that arrive outside IDLE
(NOTIFY sends them at any time), and re-scans every buffered line on each packet of
a FETCH, which is quadratic in the batch size. imapclient is blocking: every IDLE or
NOTIFY watch would hold a thread per folder and per mailbox, and it too connects by
host name only. The protocol subset a sync needs is small; this module and
``imap_wire`` (pure parsing, unit-tested) are it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from inboxhub.providers.base import ProviderAuthError, ProviderConfigError, ProviderError
from inboxhub.providers.imap_wire import (
    Token,
    literal_size,
    quote,
    response_code,
    sasl_oauthbearer,
    sasl_plain,
    sasl_xoauth2,
    tokenize,
)

READ_LIMIT = 64 * 1024 * 1024  # longest response line (a UID SEARCH of a big folder)


@dataclass
class Response:
    """One server response: ``tag`` is "*" (untagged), "+" (continuation) or a tag."""

    tag: str
    parts: list[bytes]  # text pieces and literals, as described in ``imap_wire``

    @property
    def text(self) -> bytes:
        """The first line, after the tag (for status responses and short data)."""
        return self.parts[0].split(b" ", 1)[1] if b" " in self.parts[0] else b""

    @property
    def status_text(self) -> bytes:
        """For ``* OK [CODE] text`` (and NO, BAD, BYE, PREAUTH): ``[CODE] text``."""
        return self.text.partition(b" ")[2]

    def tokens(self) -> list[Token]:
        """Tokens after the tag: ``["12", "FETCH", [...]]``, ``["LIST", [...], ...]``."""
        parts = list(self.parts)
        parts[0] = self.text
        return tokenize(parts)

    @cached_property
    def kind(self) -> str:
        """``FETCH``/``EXISTS``/… for ``* <n> KIND``, else the first word (``OK``, ``LIST``)."""
        words = self.parts[0].split(b" ", 3)
        if len(words) > 2 and words[1].isdigit():
            return words[2].decode("latin-1").upper()
        return words[1].decode("latin-1").upper() if len(words) > 1 else ""


@dataclass
class Completion:
    """A tagged command's result, and what the server said during it."""

    status: str  # OK / NO / BAD
    text: bytes
    untagged: list[Response] = field(default_factory=list)

    def code(self) -> tuple[str, str] | None:
        return response_code(self.text)


class ImapCommandError(ProviderError):
    """The server answered NO or BAD."""

    def __init__(self, command: str, completion: Completion) -> None:
        text = completion.text.decode("utf-8", "replace")
        super().__init__(f"IMAP {command} failed: {completion.status} {text}")
        self.completion = completion


class ImapConnection:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        timeout: float,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.timeout = timeout
        self.capabilities: set[str] = set()
        self.enabled: set[str] = set()
        self.broken = False  # a command was interrupted: responses may be pending
        self._tag = 0
        self._early: dict[str, Response] = {}  # pipelined completions read ahead

    # -- connecting ----------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        host: str,
        addresses: Sequence[str],
        port: int,
        security: str,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
    ) -> ImapConnection:
        """Connect to the first of ``addresses`` that answers; TLS checks ``host``."""
        last: Exception | None = None
        for address in addresses:
            try:
                async with asyncio.timeout(timeout):
                    if security == "ssl":
                        reader, writer = await asyncio.open_connection(
                            address,
                            port,
                            ssl=ssl_context,
                            server_hostname=host,
                            limit=READ_LIMIT,
                        )
                    else:
                        reader, writer = await asyncio.open_connection(
                            address, port, limit=READ_LIMIT
                        )
            except ssl.SSLCertVerificationError as exc:
                raise ProviderError(
                    f"the TLS certificate of {host}:{port} is not trusted "
                    f"({exc.verify_message}); an operator may add its CA with "
                    "INBOXHUB_MAIL_TLS_CA_FILE"
                ) from exc
            except (OSError, TimeoutError) as exc:
                last = exc
                continue
            conn = cls(reader, writer, host, timeout)
            try:
                await conn._greet()
                if security == "starttls":
                    await conn._starttls(ssl_context, port)
            except BaseException:
                conn.abort()
                raise
            return conn
        raise ProviderError(f"cannot connect to {host}:{port}: {last or 'no address'}")

    async def _greet(self) -> None:
        greeting = await self.read()
        if greeting.tag != "*" or greeting.kind not in ("OK", "PREAUTH"):
            text = greeting.parts[0].decode("utf-8", "replace")
            raise ProviderError(f"{self.host} refused the connection: {text}")
        await self._capabilities_from(greeting.status_text)

    async def _capabilities_from(self, text: bytes) -> None:
        code = response_code(text)
        if code and code[0] == "CAPABILITY":
            self.capabilities = {c.upper() for c in code[1].split()}
        else:
            await self.refresh_capabilities()

    async def refresh_capabilities(self) -> None:
        done = await self.check("CAPABILITY")
        for r in done.untagged:
            if r.kind == "CAPABILITY":
                self.capabilities = {c.upper() for c in r.text.decode("latin-1").split()[1:]}

    async def _starttls(self, ssl_context: ssl.SSLContext | None, port: int) -> None:
        if "STARTTLS" not in self.capabilities:
            raise ProviderConfigError(f"{self.host}:{port} does not offer STARTTLS")
        await self.check("STARTTLS")
        try:
            async with asyncio.timeout(self.timeout):
                await self.writer.start_tls(
                    ssl_context or ssl.create_default_context(), server_hostname=self.host
                )
        except ssl.SSLCertVerificationError as exc:
            raise ProviderError(
                f"the TLS certificate of {self.host}:{port} is not trusted "
                f"({exc.verify_message}); an operator may add its CA with "
                "INBOXHUB_MAIL_TLS_CA_FILE"
            ) from exc
        await self.refresh_capabilities()  # RFC 3501 §6.2.1: forget what was said before

    # -- authenticating ----------------------------------------------------------------

    async def login_password(self, user: str, password: str) -> None:
        if "AUTH=PLAIN" in self.capabilities:
            done = await self._authenticate("PLAIN", sasl_plain(user, password))
        elif "LOGINDISABLED" in self.capabilities:
            raise ProviderAuthError(f"{self.host} does not allow a password login here")
        elif password.isascii() and user.isascii():
            done = await self.command(b"LOGIN " + quote(user) + b" " + quote(password))
        else:
            raise ProviderAuthError(f"{self.host} cannot take a non-ASCII password (no PLAIN)")
        self._after_login(user, done)

    async def login_oauth2(self, user: str, token: str, port: int) -> None:
        if "AUTH=XOAUTH2" in self.capabilities:
            done = await self._authenticate("XOAUTH2", sasl_xoauth2(user, token))
        elif "AUTH=OAUTHBEARER" in self.capabilities:
            done = await self._authenticate(
                "OAUTHBEARER", sasl_oauthbearer(user, token, self.host, port)
            )
        else:
            raise ProviderAuthError(f"{self.host} offers neither XOAUTH2 nor OAUTHBEARER")
        self._after_login(user, done)

    async def _authenticate(self, mechanism: str, initial: bytes) -> Completion:
        """AUTHENTICATE with an initial response (SASL-IR, or after the first "+");
        a challenge after that is the server's error report: answer it empty."""
        ir = "SASL-IR" in self.capabilities
        tag = self._send(
            f"AUTHENTICATE {mechanism}".encode() + (b" " + (initial or b"=") if ir else b"")
        )
        sent = ir
        errors: list[bytes] = []
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    r = await self._read()
                    if r.tag == "+":
                        if not sent:
                            self.writer.write(initial + b"\r\n")
                            sent = True
                        else:
                            errors.append(r.parts[0][2:])
                            self.writer.write(b"\r\n")
                    elif r.tag == tag:
                        status, _, text = r.parts[0].partition(b" ")[2].partition(b" ")
                        if errors and status != b"OK":
                            text += b" (" + _decode_challenge(errors[-1]) + b")"
                        return Completion(status.decode().upper(), text)
        except (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError) as exc:
            self.broken = True
            raise ProviderError(f"{self.host}: connection lost during login: {exc!r}") from exc

    def _after_login(self, user: str, done: Completion) -> None:
        if done.status == "OK":
            code = done.code()
            if code and code[0] == "CAPABILITY":
                self.capabilities = {c.upper() for c in code[1].split()}
            else:
                self.capabilities = set()  # refreshed by the caller
            return
        text = done.text.decode("utf-8", "replace").strip()
        code = done.code()
        if code and code[0] in ("UNAVAILABLE", "INUSE", "LIMIT", "SERVERBUG"):
            raise ProviderError(f"{self.host} could not log in {user!r} now: {text}")
        raise ProviderAuthError(f"{self.host} rejected the login of {user!r}: {text}")

    # -- commands ----------------------------------------------------------------------

    def _send(self, command: bytes) -> str:
        self._tag += 1
        tag = f"A{self._tag}"
        self.writer.write(tag.encode() + b" " + command + b"\r\n")
        return tag

    async def command(
        self, command: bytes | str, on_untagged: Callable[[Response], None] | None = None
    ) -> Completion:
        """Run one command; untagged responses go to ``on_untagged`` when given (as
        they arrive, e.g. FETCH data), else into ``Completion.untagged``."""
        if self.broken:
            raise ProviderError(f"{self.host}: connection unusable after an earlier error")
        data = command.encode() if isinstance(command, str) else command
        tag = self._send(data)
        return await self.finish(tag, on_untagged)

    def send(self, command: bytes | str) -> str:
        """Send a command without waiting (pipelining); ``finish`` reads its result."""
        return self._send(command.encode() if isinstance(command, str) else command)

    async def finish(
        self, tag: str, on_untagged: Callable[[Response], None] | None = None
    ) -> Completion:
        done = Completion("", b"")
        loop = asyncio.get_running_loop()
        try:
            # One timer for the whole command, pushed back at most once a second while
            # responses keep coming (a timer per response costs more than parsing it).
            async with asyncio.timeout(self.timeout) as timer:
                moved = loop.time()
                while True:
                    if tag in self._early:
                        r = self._early.pop(tag)
                    else:
                        r = await self._read()
                        now = loop.time()
                        if now - moved > 1.0:
                            timer.reschedule(now + self.timeout)
                            moved = now
                    if self._handle(r, tag, done, on_untagged):
                        return done
        except (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError) as exc:
            self.broken = True
            raise ProviderError(f"{self.host}: connection lost: {exc!r}") from exc
        except BaseException:
            self.broken = True
            raise

    def _handle(
        self,
        r: Response,
        tag: str,
        done: Completion,
        on_untagged: Callable[[Response], None] | None,
    ) -> bool:
        """Route one response of command ``tag``; True when it was its completion."""
        if r.tag == "*":
            if r.kind == "BYE" and not self._logging_out:
                self.broken = True
                msg = r.status_text.decode("utf-8", "replace")
                raise ProviderError(f"{self.host} closed the connection: {msg}")
            if on_untagged is not None:
                on_untagged(r)
            else:
                done.untagged.append(r)
        elif r.tag == tag:
            status, _, text = r.parts[0].partition(b" ")[2].partition(b" ")
            done.status, done.text = status.decode("latin-1").upper(), text
            return True
        elif r.tag == "+":
            self.broken = True
            raise ProviderError(f"{self.host}: unexpected continuation request")
        else:  # another pipelined command's completion: kept for its finish()
            self._early[r.tag] = r
        return False

    _logging_out = False

    async def check(
        self, command: bytes | str, on_untagged: Callable[[Response], None] | None = None
    ) -> Completion:
        """``command``, raising ``ImapCommandError`` unless the server says OK."""
        done = await self.command(command, on_untagged)
        if done.status != "OK":
            name = (command.decode() if isinstance(command, bytes) else command).split(" ")[0]
            raise ImapCommandError(name, done)
        return done

    async def read(self) -> Response:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._read()
        except (OSError, TimeoutError, EOFError, asyncio.IncompleteReadError) as exc:
            self.broken = True
            raise ProviderError(f"{self.host}: connection lost: {exc!r}") from exc

    async def read_forever(self) -> Response:
        """The next response, however long it takes (an IDLE or NOTIFY watch)."""
        return await self._read()

    async def _read(self) -> Response:
        line = await self.reader.readuntil(b"\r\n")
        parts: list[bytes] = []
        while True:
            line = line[:-2]
            found = literal_size(line)
            if found is None:
                parts.append(line)
                break
            head, size = found
            parts.append(head)
            parts.append(await self.reader.readexactly(size))
            line = await self.reader.readuntil(b"\r\n")
        first = parts[0]
        tag = first[: first.find(b" ")] if b" " in first else first
        return Response(tag.decode("latin-1"), parts)

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def enable(self, *extensions: str) -> None:
        wanted = [e for e in extensions if e in self.capabilities]
        if not wanted or "ENABLE" not in self.capabilities:
            return
        done = await self.check("ENABLE " + " ".join(wanted))
        for r in done.untagged:
            if r.kind == "ENABLED":
                self.enabled |= {e.upper() for e in r.text.decode("latin-1").split()[1:]}

    # -- closing -------------------------------------------------------------------------

    async def logout(self) -> None:
        """LOGOUT politely when the connection is healthy; close it in any case."""
        if not self.broken and not self.writer.is_closing():
            self._logging_out = True
            with contextlib.suppress(ProviderError, OSError, TimeoutError):
                async with asyncio.timeout(min(self.timeout, 5.0)):
                    await self.command("LOGOUT")
        self.abort()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await self.writer.wait_closed()

    def abort(self) -> None:
        self.broken = True
        with contextlib.suppress(Exception):
            self.writer.close()


def _decode_challenge(data: bytes) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        return data
