"""Dovecot 2.3 (Debian's ``dovecot-imapd``) with a configuration of our own, in a temp
dir, on free loopback ports: plain/STARTTLS IMAP and implicit-TLS IMAP with a
certificate signed by a throwaway CA (``ca_file``), passwd-file users, Maildir mail,
CONDSTORE/QRESYNC, IDLE, NOTIFY (needs ``mailbox_list_index``), SPECIAL-USE (``Sent``)
and XOAUTH2/OAUTHBEARER through Dovecot's oauth2 passdb against a tiny introspection
server run here.

As root the mail processes run as ``nobody``; as another user everything runs as that
user. Helpers for tests and benchmarks: fresh users, ``append`` (IMAP APPEND, i.e. mail
delivered while a test runs), ``bulk_load`` (Maildir files written directly, then
``doveadm force-resync``), ``set_uidvalidity`` and ``recreate_folder`` (UIDVALIDITY
changes), and ``client`` (an ``imaplib`` session acting as "another client").
"""

from __future__ import annotations

import datetime as dt
import imaplib
import itertools
import json
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from inboxhub.providers.imap_wire import encode_mailbox
from tests.support.servers.base import ServerProcess, Unavailable, free_ports
from tests.support.tls import write_test_ca_and_certificate

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
INSTALL_HINT = "apt-get install -y dovecot-imapd"
MAILDIR = "Maildir"
FOLDERS = ("Sent", "Drafts", "Trash", "Junk")  # created for every user, SPECIAL-USE


def _find(path: str) -> str:
    if not os.access(path, os.X_OK):
        raise Unavailable(f"Dovecot not found at {path} ({INSTALL_HINT})")
    return path


class _Introspection:
    """An OAuth 2.0 token introspection endpoint (RFC 7662) for Dovecot's oauth2
    passdb: ``POST /introspect`` with ``token=…`` → ``{"active", "username"}``."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        tokens = self.tokens

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                user = tokens.get(token)
                body = {"active": True, "username": user} if user else {"active": False}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Dovecot:
    """One Dovecot instance. ``add_user``/``new_user`` create accounts on the fly
    (passwd-file is re-read when it changes)."""

    def __init__(self) -> None:
        self.program = _find(DOVECOT)
        self.doveadm = _find(DOVEADM)
        self.root = Path(tempfile.mkdtemp(prefix="inboxhub-dovecot-"))
        self.root.chmod(0o755)
        self.imap_port, self.imaps_port = free_ports(2)
        if os.geteuid() == 0:
            account = pwd.getpwnam("nobody")
            self.internal_user = "dovecot" if _has_user("dovecot") else "nobody"
            self.login_user = "dovenull" if _has_user("dovenull") else "nobody"
        else:
            account = pwd.getpwuid(os.geteuid())
            self.internal_user = self.login_user = account.pw_name
        self.mail_uid, self.mail_gid = account.pw_uid, account.pw_gid
        self.users_dir = self.root / "users"
        self.config = self.root / "dovecot.conf"
        self.passwords: dict[str, str] = {}
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self.introspection = _Introspection()
        self.ca_file, self.cert_file, self.key_file = write_test_ca_and_certificate(
            self.root, ["localhost"], ["127.0.0.1"]
        )
        self.server = ServerProcess(
            "dovecot", [self.program, "-F", "-c", str(self.config)], self.root
        )

    # -- lifecycle ---------------------------------------------------------------

    def _write_config(self) -> None:
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        os.chown(home, self.mail_uid, self.mail_gid)
        self.users_dir.mkdir(exist_ok=True)
        oauth2 = self.root / "oauth2.conf"
        oauth2.write_text(
            "introspection_mode = post\n"
            f"introspection_url = http://127.0.0.1:{self.introspection.port}/introspect\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )
        mailboxes = "\n".join(
            f"  mailbox {name} {{\n    special_use = \\{name}\n    auto = subscribe\n  }}"
            for name in FOLDERS
        )
        self.config.write_text(
            f"""\
instance_name = inboxhub-dovecot-{self.imap_port}
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = /dev/stderr
info_log_path = /dev/stderr
protocols = imap
listen = 127.0.0.1
default_internal_user = {self.internal_user}
default_login_user = {self.login_user}
first_valid_uid = 1
first_valid_gid = 1
ssl = yes
ssl_cert = <{self.cert_file}
ssl_key = <{self.key_file}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
mail_location = maildir:~/{MAILDIR}
mail_uid = {self.mail_uid}
mail_gid = {self.mail_gid}
mail_fsync = never
mailbox_list_index = yes
mail_max_userip_connections = 200
imap_idle_notify_interval = 1 mins
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.users_dir}/%u
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {oauth2}
}}
userdb {{
  driver = passwd-file
  args = {self.users_dir}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.imaps_port}
    ssl = yes
  }}
  process_min_avail = 1
}}
# No growing delay for an address after failed logins: tests try wrong passwords.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""
        )

    def start(self) -> Dovecot:
        self.introspection.start()
        self._write_config()
        self.server.start(self.imap_port, timeout=30)
        self.server.wait_ready(self.imaps_port, timeout=30)
        return self

    def stop(self) -> None:
        self.server.stop()
        self.introspection.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- users ---------------------------------------------------------------------

    def add_user(self, user: str, password: str, *, notify: bool = True) -> str:
        """An account; ``notify=False`` turns off the mailbox list index for this user,
        so the server does not offer NOTIFY to it (clients fall back to IDLE)."""
        home = self.root / "home" / user
        extra = "" if notify else "userdb_mailbox_list_index=no"
        line = f"{user}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}::{extra}\n"
        with self._lock:
            self.passwords[user] = password
            (self.users_dir / user).write_text(line)
        with self.client(user) as imap:  # creates the Maildir and the special folders
            imap.noop()
        return user

    def new_user(self, prefix: str = "user", *, notify: bool = True) -> tuple[str, str]:
        """A fresh account (name, password), so tests do not share mailboxes."""
        user = f"{prefix}{next(self._serial)}"
        password = f"pw-{user}-{os.urandom(4).hex()}"
        self.add_user(user, password, notify=notify)
        return user, password

    def add_token(self, user: str, token: str) -> None:
        """Make ``token`` a valid OAuth 2.0 access token for ``user``."""
        self.introspection.tokens[token] = user

    # -- acting as another client ------------------------------------------------

    @contextmanager
    def client(self, user: str) -> Iterator[imaplib.IMAP4]:
        imap = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        try:
            imap.login(user, self.passwords[user])
            yield imap
        finally:
            with suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    def create_folder(self, user: str, folder: str) -> None:
        with self.client(user) as imap:
            _ok(imap.create(_quote(folder)))

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: Sequence[str] = (),
        when: dt.datetime | None = None,
    ) -> int:
        """APPEND ``raw`` to ``folder``; returns the new message's UID (UIDPLUS).
        Bare LFs become CRLF (imaplib does that; IMAP carries CRLF)."""
        with self.client(user) as imap:
            date = imaplib.Time2Internaldate(when) if when else None
            typ, data = imap.append(_quote(folder), f"({' '.join(flags)})", date, raw)
            _ok((typ, data))
            text = (data[0] or b"").decode()
            # [APPENDUID <uidvalidity> <uid>] Done.
            return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])

    def store(self, user: str, folder: str, uid: int, op: str, flags: Sequence[str]) -> None:
        """``op`` is "+FLAGS" or "-FLAGS"."""
        with self.client(user) as imap:
            _ok(imap.select(_quote(folder)))
            _ok(imap.uid("STORE", str(uid), op, f"({' '.join(flags)})"))

    def expunge(self, user: str, folder: str, uids: Iterable[int]) -> None:
        with self.client(user) as imap:
            _ok(imap.select(_quote(folder)))
            uid_set = ",".join(str(u) for u in uids)
            _ok(imap.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)"))
            _ok(imap.uid("EXPUNGE", uid_set))

    def move(self, user: str, folder: str, uid: int, target: str) -> None:
        """``UID MOVE`` (RFC 6851), as a mail client moves a message to the Trash."""
        with self.client(user) as imap:
            _ok(imap.select(_quote(folder)))
            _ok(imap.uid("MOVE", str(uid), _quote(target)))

    def uids(self, user: str, folder: str) -> list[int]:
        with self.client(user) as imap:
            _ok(imap.select(_quote(folder), readonly=True))
            typ, data = imap.uid("SEARCH", "ALL")
            _ok((typ, data))
            return [int(x) for x in (data[0] or b"").split()]

    def flags(self, user: str, folder: str) -> dict[int, set[str]]:
        """UID → the message's flags (``\\Recent`` left out)."""
        with self.client(user) as imap:
            _ok(imap.select(_quote(folder), readonly=True))
            typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS)")
            _ok((typ, data))
            found: dict[int, set[str]] = {}
            for line in data:
                if not isinstance(line, bytes) or b"UID" not in line:
                    continue  # "[None]": the folder is empty
                uid = int(line.split(b"UID ", 1)[1].split()[0].strip(b")"))
                flags = {f.decode() for f in imaplib.ParseFlags(line)}
                found[uid] = flags - {"\\Recent"}
            return found

    def bodies(self, user: str, folder: str) -> list[bytes]:
        """The raw messages of ``folder``, in UID order."""
        with self.client(user) as imap:
            _ok(imap.select(_quote(folder), readonly=True))
            typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
            _ok((typ, data))
            return [item[1] for item in data if isinstance(item, tuple)]

    def uidvalidity(self, user: str, folder: str) -> int:
        with self.client(user) as imap:
            typ, data = imap.status(_quote(folder), "(UIDVALIDITY)")
            _ok((typ, data))
            text = (data[0] or b"").decode()
            return int(text.rsplit("UIDVALIDITY", 1)[1].strip(" )"))

    # -- UIDVALIDITY changes -----------------------------------------------------

    def set_uidvalidity(self, user: str, folder: str, value: int) -> None:
        """The server's own way: ``doveadm mailbox update --uid-validity`` (UIDs stay)."""
        self.doveadm_run("mailbox", "update", "-u", user, "--uid-validity", str(value), folder)

    def recreate_folder(
        self, user: str, folder: str, keep: Callable[[bytes], bool] = lambda raw: True
    ) -> None:
        """Delete ``folder`` and create it again with the messages ``keep`` accepts
        (same bytes, flags and dates): a new UIDVALIDITY and new UIDs, as after a
        server migration or a restore."""
        with self.client(user) as imap:
            _ok(imap.select(_quote(folder), readonly=True))
            typ, data = imap.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
            _ok((typ, data))
            saved = []
            for item in data:
                if isinstance(item, tuple):
                    head = item[0]
                    flags = imaplib.ParseFlags(head)
                    date = imaplib.Internaldate2tuple(head)
                    saved.append((item[1], flags, date))
            _ok(imap.close())
            _ok(imap.delete(_quote(folder)))
            _ok(imap.create(_quote(folder)))
            for raw, flags, date in saved:
                if keep(raw):
                    fl = " ".join(f.decode() for f in flags if f != b"\\Recent")
                    _ok(imap.append(_quote(folder), f"({fl})", date, raw))

    # -- fast loading --------------------------------------------------------------

    def bulk_load(
        self,
        user: str,
        folder: str,
        messages: Iterable[bytes],
        flags: str = "",
        when: dt.datetime | None = None,
    ) -> int:
        """Write ``messages`` straight into the folder's Maildir (``flags``: Maildir
        letters, e.g. "S" for seen) and have Dovecot index them; returns how many.
        Much faster than APPEND for benchmark-sized folders (10,000 in a few seconds)."""
        maildir = self.maildir(user, folder)
        cur = maildir / "cur"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        stamp = (when or dt.datetime.now(dt.UTC)).timestamp()
        base = f"{int(stamp)}.P{os.getpid()}Q{next(self._serial)}"
        n = 0
        for n, raw in enumerate(messages, 1):
            path = cur / f"{base}M{n}.inboxhub:2,{flags}"
            path.write_bytes(raw)
            os.utime(path, (stamp, stamp))
        self._chown_tree(self.root / "home" / user)
        self.doveadm_run("force-resync", "-u", user, folder)
        return n

    def maildir(self, user: str, folder: str) -> Path:
        base = self.root / "home" / user / MAILDIR
        if folder.upper() == "INBOX":
            return base
        return base / ("." + encode_mailbox(folder).replace("/", "."))

    def _chown_tree(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        for dirpath, _dirnames, filenames in os.walk(path):
            os.chown(dirpath, self.mail_uid, self.mail_gid)
            for name in filenames:
                os.chown(os.path.join(dirpath, name), self.mail_uid, self.mail_gid)

    def doveadm_run(self, *args: str) -> str:
        out = subprocess.run(
            [self.doveadm, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout

    def wait_for_uid(self, user: str, folder: str, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while len(self.uids(user, folder)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{folder} of {user} has fewer than {count} messages")
            time.sleep(0.05)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _quote(folder: str) -> str:
    folder = encode_mailbox(folder)  # modified UTF-7, as on the wire
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(result: tuple[str, object]) -> None:
    typ, data = result
    if typ != "OK":
        raise RuntimeError(f"IMAP command failed: {typ} {data!r}")
