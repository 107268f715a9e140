"""Writes the customer mails of tests/mail.rs into a directory, built with Python's `email`
package the way a mail client builds them (RFC 2047 subjects, MIME multipart, base64).

    python3 mail_messages.py OUTDIR
"""
import os
import sys
from email.message import EmailMessage
from email.utils import formatdate

out = sys.argv[1]


def write(name, msg):
    with open(os.path.join(out, name), "wb") as f:
        f.write(msg.as_bytes())


def base(sender, subject, msgid):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "support@wizard.example"
    m["Subject"] = subject
    m["Date"] = formatdate(localtime=True)
    m["Message-ID"] = msgid
    return m


# A German customer: encoded-word subject and name, text plus a log file attachment.
m = base("Jürgen Müller <Juergen.Mueller@example.de>", "Absturz beim Öffnen", "<german-1@mail.example.de>")
m.set_content("Hallo,\nWIZARD 2.1.0 stürzt beim Öffnen eines Projekts ab.\nGrüße")
m.add_attachment(b"2026-12-05 10:00:01 ERROR TOB_PARSE_ERROR\n", maintype="text", subtype="plain", filename="wizard.log")
m.add_attachment(bytes(range(256)) * 4, maintype="application", subtype="octet-stream", filename="crash.dmp")
write("german.eml", m)

# HTML only (no text part).
m = base("kim@example.org", "Lizenzschlüssel", "<html-1@example.org>")
m.set_content("<html><body><p>Mein <b>Lizenzschl&uuml;ssel</b> wird nicht angenommen.</p></body></html>", subtype="html")
write("html.eml", m)

# The German customer answers: the subject names the ticket.
m = base("Jürgen Müller <juergen.mueller@example.de>", "AW: [WIZ-1] Absturz beim Öffnen", "<german-2@mail.example.de>")
m["In-Reply-To"] = "<german-1@mail.example.de>"
m["References"] = "<german-1@mail.example.de>"
m.set_content("Das Projekt liegt auf einem Netzlaufwerk.")
write("reply.eml", m)

# The HTML customer answers without the tag: threaded by References alone.
m = base("kim@example.org", "Re: Lizenzschlüssel", "<html-2@example.org>")
m["In-Reply-To"] = "<html-1@example.org>"
m["References"] = "<html-1@example.org>"
m.set_content("It works now, thank you!")
write("thread.eml", m)

# An out-of-office answer to the desk's reply: never answered (RFC 3834).
m = base("juergen.mueller@example.de", "Abwesenheitsnotiz: AW: [WIZ-1] Absturz beim Öffnen", "<ooo-1@mail.example.de>")
m["Auto-Submitted"] = "auto-replied"
m.set_content("Ich bin bis 14.12. nicht im Büro.")
write("auto.eml", m)

# Data loss: critical whatever else.
m = base("ops@bigcustomer.example", "Datenverlust nach dem Update auf 2.1.0", "<loss-1@bigcustomer.example>")
m.set_content("Nach dem Speichern sind alle Ebenen leer.")
write("loss.eml", m)

# A 30 MB attachment: over the desk's 25 MiB limit.
m = base("big@example.org", "Full memory dump", "<big-1@example.org>")
m.set_content("Attached the dump.")
m.add_attachment(os.urandom(30 * 1000 * 1000), maintype="application", subtype="octet-stream", filename="memory.dmp")
write("big.eml", m)
