"""A local SMTP server for the browser tests: `python smtp_sink.py PORT` prints `ready`,
then `link <url>` for every link in the plain-text body of every mail it receives."""

import re
import sys
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class PrintLinks:
    """An aiosmtpd handler that prints the links of each mail."""

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        for url in re.findall(r"https?://\S+", text):
            print(f"link {url}", flush=True)
        return "250 Message accepted"


def main() -> None:
    """Serve on 127.0.0.1:PORT until killed."""
    controller = Controller(PrintLinks(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
