"""A real SMTP server (aiosmtpd) that keeps every message it receives: DIR/N.eml holds the
message as received, DIR/N.json its envelope. Prints `ready` once listening; runs until
killed.

    python3 smtp_sink.py DIR PORT
"""
import json
import os
import sys
import threading

from aiosmtpd.controller import Controller

out, port = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()


class Keep:
    async def handle_DATA(self, server, session, envelope):
        with lock:
            n = len([f for f in os.listdir(out) if f.endswith(".eml")]) + 1
            with open(os.path.join(out, f"{n}.eml.tmp"), "wb") as f:
                f.write(envelope.original_content)
            with open(os.path.join(out, f"{n}.json"), "w") as f:
                json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
            os.rename(os.path.join(out, f"{n}.eml.tmp"), os.path.join(out, f"{n}.eml"))
        return "250 Message accepted for delivery"


c = Controller(Keep(), hostname="127.0.0.1", port=port)
c.start()
print("ready", flush=True)
threading.Event().wait()
