#!/usr/bin/env python3
"""A real SMTP server on 127.0.0.1 for regbridge's tests, built on aiosmtpd.

Every accepted message is written whole into --maildir as <n>.eml; every DATA attempt is logged in
--maildir/attempts.log. Prints "ready <port>" on standard output once it listens, and runs until
its standard input closes (the test dropping it) or it is killed.

Options:
  --port N             listen on N (default: a free port)
  --starttls CERT KEY  offer STARTTLS with this certificate and key, and require it
  --tls CERT KEY       speak TLS from the first byte (SMTPS, "implicit TLS")
  --auth USER:PASS     require AUTH (PLAIN or LOGIN) with these credentials
  --reject CODE        answer every DATA with CODE (e.g. 550 permanent, 451 temporary)
"""

import argparse
import itertools
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Saver:
    def __init__(self, folder, reject):
        self.folder = folder
        self.reject = reject
        self.numbers = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        with open(os.path.join(self.folder, "attempts.log"), "a") as log:
            log.write("DATA\n")
        if self.reject:
            return f"{self.reject} rejected by the test server"
        path = os.path.join(self.folder, f"{next(self.numbers):04d}.eml")
        with open(path + ".part", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.replace(path + ".part", path)
        return "250 OK accepted"


def checker(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth")
    parser.add_argument("--reject")
    args = parser.parse_args()
    os.makedirs(args.maildir, exist_ok=True)
    options = {}
    if args.starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.starttls)
        options.update(tls_context=context, require_starttls=True)
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
        options.update(ssl_context=context)
    if args.auth:
        user, password = args.auth.split(":", 1)
        options.update(
            authenticator=checker(user, password),
            auth_required=True,
            # aiosmtpd counts only STARTTLS as TLS here; SMTPS is encrypted from the start.
            auth_require_tls=bool(args.starttls),
        )
    port = args.port or free_port()
    controller = Controller(
        Saver(args.maildir, args.reject),
        hostname="127.0.0.1",
        port=port,
        server_hostname="localhost",
        **options,
    )
    controller.start()
    print(f"ready {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
