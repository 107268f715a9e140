//! The public release page (R-REL-10, issue 26): approved releases with their notes, files
//! and SHA256SUMS, and an Atom feed per channel — without a token; nothing of a release
//! that is not approved; release notes rendered inert (no markup of theirs runs).

mod common;

use common::{Backend, TestEnv};

backend_tests!(the_public_release_page_shows_approved_releases_only);

/// Reads `xml` through quick-xml to its end: the number of entries and the text of their
/// `content` (unescaped), or the error.
fn read_feed(xml: &str) -> Result<(usize, String), String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let (mut entries, mut content, mut inside) = (0, String::new(), false);
    loop {
        match r.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) if e.name().as_ref() == b"entry" => entries += 1,
            Event::Start(e) if e.name().as_ref() == b"content" => inside = true,
            Event::End(e) if e.name().as_ref() == b"content" => inside = false,
            Event::Text(t) if inside => {
                content.push_str(&t.decode().map_err(|e| e.to_string())?);
            }
            Event::GeneralRef(g) if inside => {
                let name = g.decode().map_err(|e| e.to_string())?;
                let c = match name.as_ref() {
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "amp" => "&".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    n => {
                        let code = n
                            .strip_prefix("#x")
                            .map(|h| u32::from_str_radix(h, 16))
                            .or_else(|| n.strip_prefix('#').map(|d| d.parse()))
                            .ok_or(format!("unknown entity {n}"))?
                            .map_err(|e| e.to_string())?;
                        char::from_u32(code).ok_or("bad char")?.to_string()
                    }
                };
                content.push_str(&c);
            }
            Event::Eof => return Ok((entries, content)),
            _ => {}
        }
    }
}

/// A GET without a token: status, content type, body.
async fn get(s: &common::Server, path: &str) -> (u16, String, String) {
    let r = reqwest::get(format!("{}{path}", s.url)).await.unwrap();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), kind, r.text().await.unwrap())
}

async fn the_public_release_page_shows_approved_releases_only(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let dir = tempfile::tempdir().unwrap();
    // 1.9.0 at 100 %, what a rollback of 2.0.0 goes back to.
    s.cli_json(&["release", "create", "1.9.0", "--go-live", "2027-01-15"]);
    s.upload(
        dir.path(),
        "1.9.0",
        "windows-x64",
        "WIZARD-1.9.0.msi",
        &common::test_bytes(4096, 2),
    );
    s.ship("1.9.0");
    s.cli_json(&["release", "create", "2.0.0", "--go-live", "2027-03-15"]);
    let a = s.upload(
        dir.path(),
        "2.0.0",
        "windows-x64",
        "WIZARD-2.0.0.msi",
        &common::test_bytes(4096, 3),
    );
    let notes = dir.path().join("notes.md");
    std::fs::write(
        &notes,
        "# WIZARD 2.0.0\n\nFaster **saving**.\n\n<script>alert('x')</script>\n\n[click](javascript:alert(1)) & <img src=x onerror=alert(2)>\n",
    )
    .unwrap();
    s.cli_json(&["release", "notes", "2.0.0", notes.to_str().unwrap()]);
    s.ship("2.0.0");
    // 2.1.0 is frozen, not approved: not public.
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-06-15"]);
    s.upload(
        dir.path(),
        "2.1.0",
        "windows-x64",
        "WIZARD-2.1.0.msi",
        &common::test_bytes(4096, 4),
    );
    s.cli_json(&["release", "freeze", "2.1.0"]);

    let (status, kind, html) = get(&s, "/releases/wizard").await;
    assert_eq!((status, kind.starts_with("text/html")), (200, true));
    let sha = a["sha256"].as_str().unwrap();
    assert!(
        html.contains("wizard 2.0.0") && html.contains("<strong>saving</strong>"),
        "{html}"
    );
    assert!(
        html.contains(&format!("{sha}  WIZARD-2.0.0.msi")),
        "SHA256SUMS: {html}"
    );
    assert!(html.contains("offered on internal, stable"), "{html}");
    assert!(
        !html.contains("2.1.0"),
        "an unapproved release shows: {html}"
    );
    assert!(
        !html.contains("<script>alert")
            && !html.contains("onerror")
            && !html.contains("javascript:"),
        "{html}"
    );

    for channel in ["stable", "internal"] {
        let (status, kind, xml) = get(&s, &format!("/releases/wizard/{channel}.atom")).await;
        assert_eq!(
            (status, kind.starts_with("application/atom+xml")),
            (200, true)
        );
        let (entries, content) = read_feed(&xml).unwrap();
        assert!(entries >= 1, "{xml}");
        assert!(
            xml.contains("<title>wizard 2.0.0</title>") && !xml.contains("2.1.0"),
            "{xml}"
        );
        // The notes as escaped HTML: the feed reader renders them, a script never runs.
        assert!(
            content.contains("<strong>saving</strong>") && !content.contains("<script"),
            "{content}"
        );
    }
    let (status, _, body) = get(&s, "/releases/wizard/nightly.atom").await;
    assert_eq!(status, 404);
    assert!(body.contains("stable.atom"), "{body}");
    assert_eq!(get(&s, "/releases/other").await.0, 404);

    // Rolled back: still listed, marked withdrawn, in no channel's feed.
    s.roll_back(&["--reason", "data loss on save", "--next-fix", "2027-06-10"]);
    let html = get(&s, "/releases/wizard").await.2;
    assert!(html.contains("withdrawn (rolled back)"), "{html}");
    let xml = get(&s, "/releases/wizard/stable.atom").await.2;
    read_feed(&xml).unwrap();
    assert!(!xml.contains("wizard 2.0.0"), "{xml}");
}
