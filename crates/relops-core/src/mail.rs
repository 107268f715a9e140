//! A customer's mail to the support desk (issue 25), read: RFC 5322 / MIME by `mail-parser`
//! into what a ticket needs, every part bounded — the support address is public, so each
//! byte of a message is the sender's choice.
//!
//! - **Sender** and **subject** (RFC 2047 encoded words decoded, NFC); no `From` address is
//!   no mail.
//! - **Text**: the first text body; an HTML-only mail is turned into text by the parser.
//! - **Threading**: `[WIZ-12]` in the subject, and the ids of `In-Reply-To`/`References`.
//! - **Automatic mail** (`Auto-Submitted` other than `no`, `Precedence: bulk|junk|list|
//!   auto_reply`, `X-Autoreply`, `X-Autorespond`): named, so that the desk never answers an
//!   auto-reply — the mail loop RFC 3834 warns of.
//! - **Message-ID**: the header's, or — without one — a digest of the bytes, so that a
//!   message delivered twice is recognised either way.

use mail_parser::{MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use crate::text::nfc;

/// Longest subject kept (characters; longer ones are cut).
pub const MAX_SUBJECT_CHARS: usize = 300;
/// Longest text kept (characters; longer text is cut, with a line saying so).
pub const MAX_TEXT_CHARS: usize = 100_000;
/// Most attachments taken from one message; more make the mail refused.
pub const MAX_ATTACHMENTS: usize = 20;
/// Most thread ids read from `In-Reply-To` and `References`.
const MAX_THREAD_IDS: usize = 50;

/// A customer's message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// Without angle brackets.
    pub message_id: String,
    /// Lower-cased.
    pub from: String,
    pub from_name: Option<String>,
    pub subject: String,
    pub text: String,
    /// `In-Reply-To` then `References`, without angle brackets.
    pub thread_ids: Vec<String>,
    /// `WIZ-12` when the subject names a ticket as `[WIZ-12]`.
    pub ticket_ref: Option<String>,
    /// Why this is an automatic message, if it is one.
    pub automatic: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// A file that came with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Why a message cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("this is not an RFC 5322 mail message (no header could be read)")]
    NotMail,
    #[error("the mail has no From address: the desk could not answer it")]
    NoSender,
    #[error(
        "the mail has {0} attachments; the desk takes at most {MAX_ATTACHMENTS} per message (zip them, or send a link)"
    )]
    TooManyAttachments(usize),
}

/// The first `[ABC-123]` in `subject`: a ticket id (1–3 letters or digits, a dash, digits).
pub fn ticket_ref(subject: &str) -> Option<String> {
    let b = subject.as_bytes();
    let mut i = 0;
    while let Some(off) = subject[i..].find('[') {
        let start = i + off + 1;
        if let Some(len) = subject[start..].find(']') {
            let inner = &subject[start..start + len];
            if let Some((p, n)) = inner.split_once('-')
                && (1..=3).contains(&p.len())
                && p.bytes().all(|c| c.is_ascii_alphanumeric())
                && (1..=12).contains(&n.len())
                && n.bytes().all(|c| c.is_ascii_digit())
            {
                return Some(inner.to_ascii_uppercase());
            }
        }
        i = start;
        if i >= b.len() {
            break;
        }
    }
    None
}

fn cut(s: &str, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        Some((at, _)) => (s[..at].to_owned(), true),
        None => (s.to_owned(), false),
    }
}

fn strip_brackets(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

/// Reads `raw` as a mail.
pub fn parse(raw: &[u8]) -> Result<InboundMail, MailError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(MailError::NotMail)?;
    if msg.parts.first().is_none_or(|p| p.headers.is_empty()) {
        return Err(MailError::NotMail);
    }
    let from = msg.from().and_then(|a| a.first());
    let address = from
        .and_then(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty() && a.len() <= 254)
        .ok_or(MailError::NoSender)?;
    let from_name = from
        .and_then(|a| a.name())
        .map(|n| cut(&nfc(n.trim()), 200).0)
        .filter(|n| !n.is_empty());
    let subject = msg.subject().map(|s| nfc(s.trim())).unwrap_or_default();
    let (subject, _) = cut(&subject, MAX_SUBJECT_CHARS);
    let ticket_ref = ticket_ref(&subject);
    let subject = if subject.is_empty() {
        "(no subject)".to_owned()
    } else {
        subject
    };
    let text = msg.body_text(0).map(|t| nfc(t.trim())).unwrap_or_default();
    let (mut text, cut_off) = cut(&text, MAX_TEXT_CHARS);
    if cut_off {
        text.push_str("\n[relops: the message was longer; the rest is not kept]");
    }
    let mut thread_ids = Vec::new();
    for h in [msg.in_reply_to(), msg.references()] {
        for id in h.as_text_list().unwrap_or_default() {
            let id = strip_brackets(id);
            if !id.is_empty() && id.len() <= 250 && !thread_ids.contains(&id) {
                thread_ids.push(id);
            }
        }
    }
    thread_ids.truncate(MAX_THREAD_IDS);
    let header = |name: &str| msg.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    let automatic = if let Some(v) = header("Auto-Submitted").filter(|v| !v.starts_with("no")) {
        Some(format!("Auto-Submitted: {v}"))
    } else if let Some(v) = header("Precedence")
        .filter(|v| ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str()))
    {
        Some(format!("Precedence: {v}"))
    } else if header("X-Autoreply").is_some() || header("X-Autorespond").is_some() {
        Some("an auto-responder's header (X-Autoreply)".to_owned())
    } else {
        None
    };
    let parts: Vec<_> = msg.attachments().collect();
    if parts.len() > MAX_ATTACHMENTS {
        return Err(MailError::TooManyAttachments(parts.len()));
    }
    let attachments = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let content_type = p
                .content_type()
                .map(|c| match c.subtype() {
                    Some(s) => format!("{}/{s}", c.ctype()),
                    None => c.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned())
                .to_ascii_lowercase();
            // A name is shown and offered for download: no paths, no control characters.
            let name = p
                .attachment_name()
                .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned())
                .map(|n| n.chars().filter(|c| !c.is_control()).collect::<String>())
                .map(|n| cut(&nfc(n.trim()), 200).0)
                .filter(|n| !n.is_empty() && n != "." && n != "..")
                .unwrap_or_else(|| format!("attachment-{}", i + 1));
            Attachment {
                name,
                content_type: cut(&content_type, 100).0,
                bytes: p.contents().to_vec(),
            }
        })
        .collect();
    let message_id = msg
        .message_id()
        .map(strip_brackets)
        .filter(|m| !m.is_empty() && m.len() <= 250)
        .unwrap_or_else(|| format!("{}@digest.relops.invalid", hex::encode(Sha256::digest(raw))));
    Ok(InboundMail {
        message_id,
        from: address,
        from_name,
        subject,
        text,
        thread_ids,
        ticket_ref,
        automatic,
        attachments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_refs_in_subjects() {
        let cases = [
            ("Re: [WIZ-12] Absturz", Some("WIZ-12")),
            ("AW: AW: [wiz-7] x", Some("WIZ-7")),
            ("[urgent] [WIZ-3]", Some("WIZ-3")),
            ("[WIZARD-3]", None),
            ("[WIZ-]", None),
            ("[WIZ-12", None),
            ("no ref", None),
            ("[", None),
        ];
        for (s, want) in cases {
            assert_eq!(ticket_ref(s).as_deref(), want, "{s}");
        }
    }

    #[test]
    fn a_german_mail_with_an_attachment_reads() {
        let raw = b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Juergen@Example.DE>\r\n\
To: support@wizard.example\r\n\
Subject: =?utf-8?q?Absturz_beim_=C3=96ffnen?=\r\n\
Message-ID: <abc@mail.example.de>\r\n\
In-Reply-To: <wiz-1.x@relops.invalid>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hallo, WIZARD st\xc3\xbcrzt ab.\r\n\
--b\r\n\
Content-Type: text/plain; name=\"wizard.log\"\r\n\
Content-Disposition: attachment; filename=\"../../wizard.log\"\r\n\
\r\n\
line 1\r\n\
--b--\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.from, "juergen@example.de");
        assert_eq!(m.from_name.as_deref(), Some("Jürgen Müller"));
        assert_eq!(m.subject, "Absturz beim Öffnen");
        assert_eq!(m.text, "Hallo, WIZARD stürzt ab.");
        assert_eq!(m.message_id, "abc@mail.example.de");
        assert_eq!(m.thread_ids, ["wiz-1.x@relops.invalid"]);
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "wizard.log");
        assert_eq!(m.automatic, None);
    }

    #[test]
    fn auto_replies_and_senderless_mail_are_named() {
        let auto = b"From: a@b.example\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nx\r\n";
        assert!(
            parse(auto)
                .unwrap()
                .automatic
                .unwrap()
                .contains("auto-replied")
        );
        let human = b"From: a@b.example\r\nSubject: x\r\nAuto-Submitted: no\r\n\r\nx\r\n";
        assert_eq!(parse(human).unwrap().automatic, None);
        assert_eq!(
            parse(b"Subject: x\r\n\r\nno sender\r\n"),
            Err(MailError::NoSender)
        );
        // No Message-ID: the same bytes get the same id.
        let a = parse(human).unwrap().message_id;
        assert_eq!(a, parse(human).unwrap().message_id);
        assert!(a.ends_with("@digest.relops.invalid"));
    }
}
