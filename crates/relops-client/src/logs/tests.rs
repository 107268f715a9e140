use std::sync::Mutex;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;

use super::*;

/// A clock in Berlin time that the test moves.
#[derive(Debug)]
struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    fn at(local: &str) -> Arc<Self> {
        let naive = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
        let t = Berlin.from_local_datetime(&naive).earliest().unwrap();
        Arc::new(Self(Mutex::new(t.with_timezone(&Utc))))
    }
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<FixedOffset> {
        self.0.lock().unwrap().with_timezone(&Berlin).fixed_offset()
    }
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn open(dir: &Path, clock: Arc<TestClock>) -> Logs {
    Logs::with_clock(LogConfig::new(dir, "wizard"), clock).unwrap()
}

#[test]
fn a_new_file_starts_at_local_midnight_also_across_dst() {
    let dir = tempfile::tempdir().unwrap();
    // 2027-03-28: Berlin moves from +01:00 to +02:00 at 02:00 local time.
    let clock = TestClock::at("2027-03-27 23:59");
    let logs = open(dir.path(), clock.clone());
    logs.log(Level::Info, "wizard", "before midnight").unwrap();
    clock.advance(Duration::minutes(2)); // 00:01 local, still +01:00 (UTC 23:01 the 27th)
    logs.log(Level::Info, "wizard", "after midnight").unwrap();
    clock.advance(Duration::hours(2)); // 03:01 local, +02:00: the same day
    logs.log(Level::Error, "wizard::project", "cannot open\nQ3.wzp")
        .unwrap();
    clock.advance(Duration::hours(21) - Duration::minutes(2)); // 23:59 local the 28th
    logs.log(Level::Info, "wizard", "late").unwrap();
    clock.advance(Duration::minutes(2)); // 00:01 the 29th
    logs.log(Level::Warn, "wizard", "next day").unwrap();
    logs.log(Level::Debug, "wizard", "not written").unwrap();

    let app = |d| std::fs::read_to_string(logs.path(Channel::App, day(d))).unwrap();
    assert!(app("2027-03-27").contains("before midnight"));
    let d28 = app("2027-03-28");
    assert_eq!(d28.lines().count(), 3, "{d28}");
    assert!(d28.starts_with("2027-03-28T00:01:00.000+01:00 INFO  wizard: after midnight\n"));
    assert!(
        d28.contains("2027-03-28T03:01:00.000+02:00 ERROR wizard::project: cannot open\\nQ3.wzp\n")
    );
    assert!(d28.contains("2027-03-28T23:59:00.000+02:00 INFO  wizard: late"));
    assert_eq!(app("2027-03-29").lines().count(), 1);
    let errors = std::fs::read_to_string(logs.path(Channel::Error, day("2027-03-28"))).unwrap();
    assert_eq!(errors.lines().count(), 1, "only the error: {errors}");
    assert!(!app("2027-03-29").contains("not written"));
    // Autumn: 2027-10-31 03:00 +02:00 becomes 02:00 +01:00; the hour repeats, the day does not.
    let clock = TestClock::at("2027-10-31 01:30");
    let logs = open(dir.path(), clock.clone());
    for _ in 0..5 {
        logs.log(Level::Info, "wizard", "autumn").unwrap();
        clock.advance(Duration::minutes(30));
    }
    let d = std::fs::read_to_string(logs.path(Channel::App, day("2027-10-31"))).unwrap();
    assert_eq!(d.lines().count(), 5, "{d}");
    assert!(
        d.contains("T02:30:00.000+02:00") && d.contains("T02:30:00.000+01:00"),
        "{d}"
    );
}

#[test]
fn app_and_error_logs_stay_30_days_audit_180() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2027-01-01 12:00");
    let logs = open(dir.path(), clock.clone());
    let count = |ch: Channel| {
        files(dir.path())
            .iter()
            .filter(|f| f.starts_with(&format!("wizard_{}.", ch.as_str())))
            .count()
    };
    for d in 0..181 {
        logs.log(Level::Error, "wizard", &format!("day {d}"))
            .unwrap();
        logs.audit("day", &serde_json::json!({"n": d})).unwrap();
        if d == 30 {
            // 31 days written: the first is gone from app and error, not from audit.
            assert_eq!(count(Channel::App), 30);
            assert_eq!(count(Channel::Error), 30);
            assert_eq!(count(Channel::Audit), 31);
            assert!(!logs.path(Channel::App, day("2027-01-01")).exists());
            assert!(logs.path(Channel::App, day("2027-01-02")).exists());
        }
        clock.advance(Duration::days(1));
    }
    // 181 days written (the last on 2027-06-30).
    assert_eq!(count(Channel::App), 30);
    assert_eq!(count(Channel::Audit), 180);
    assert!(!logs.path(Channel::Audit, day("2027-01-01")).exists());
    assert!(logs.path(Channel::Audit, day("2027-01-02")).exists());
    assert!(logs.path(Channel::App, day("2027-06-01")).exists());
    assert!(!logs.path(Channel::App, day("2027-05-31")).exists());
    // The chain runs through every kept day.
    let audit: Vec<PathBuf> = files(dir.path())
        .iter()
        .filter(|f| f.starts_with("wizard_audit."))
        .map(|f| dir.path().join(f))
        .collect();
    let v = audit::verify(&audit).unwrap();
    assert_eq!(
        v,
        audit::Verified {
            lines: 180,
            broken: None
        }
    );
}

#[test]
fn opening_prunes_what_a_long_pause_left() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2027-01-01 12:00");
    open(dir.path(), clock.clone())
        .log(Level::Info, "w", "x")
        .unwrap();
    clock.advance(Duration::days(29));
    open(dir.path(), clock.clone());
    assert_eq!(files(dir.path()).len(), 3, "29 days later the files stay");
    clock.advance(Duration::days(1));
    open(dir.path(), clock.clone());
    assert_eq!(files(dir.path()), vec!["wizard_audit.2027-01-01.log"]);
}

#[test]
fn a_day_is_capped_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2027-01-01 12:00");
    let mut cfg = LogConfig::new(dir.path(), "wizard");
    cfg.max_bytes_per_day = 1000;
    let logs = Logs::with_clock(cfg, clock.clone()).unwrap();
    for i in 0..100 {
        logs.log(
            Level::Info,
            "wizard",
            &format!("line {i:03} of some length"),
        )
        .unwrap();
        logs.audit("event", &serde_json::json!({"i": i})).unwrap();
    }
    let app = std::fs::read_to_string(logs.path(Channel::App, day("2027-01-01"))).unwrap();
    assert!(app.len() < 1200, "{}", app.len());
    assert!(
        app.ends_with("further lines today are not written\n"),
        "{app}"
    );
    let audit1 = logs.path(Channel::Audit, day("2027-01-01"));
    let kept = std::fs::read_to_string(&audit1).unwrap().lines().count();
    assert!(kept < 100);
    clock.advance(Duration::days(1));
    logs.audit("event", &serde_json::json!({"i": 100})).unwrap();
    let next = std::fs::read_to_string(logs.path(Channel::Audit, day("2027-01-02"))).unwrap();
    let first: serde_json::Value = serde_json::from_str(next.lines().next().unwrap()).unwrap();
    assert_eq!(first["event"], "log.dropped");
    assert_eq!(first["fields"]["events"], 100 - kept as u64);
    assert!(
        audit::verify(&[audit1, logs.path(Channel::Audit, day("2027-01-02"))])
            .unwrap()
            .broken
            .is_none()
    );
}

#[test]
fn an_edited_or_removed_audit_line_is_found_and_a_restart_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2027-01-01 12:00");
    let logs = open(dir.path(), clock.clone());
    for i in 0..5 {
        logs.audit("login", &serde_json::json!({"user": format!("u{i}")}))
            .unwrap();
    }
    drop(logs);
    let logs = open(dir.path(), clock.clone()); // a restart: the chain goes on
    logs.audit("logout", &serde_json::json!({"user": "u4"}))
        .unwrap();
    let path = logs.path(Channel::Audit, day("2027-01-01"));
    let good = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        audit::verify(&[&path]).unwrap(),
        audit::Verified {
            lines: 6,
            broken: None
        }
    );

    std::fs::write(&path, good.replace("\"u2\"", "\"u9\"")).unwrap();
    let v = audit::verify(&[&path]).unwrap();
    assert_eq!(v.broken.as_ref().unwrap().line, 3, "{v:?}");
    assert!(v.broken.unwrap().what.contains("changed"));

    let without: Vec<&str> = good
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&path, without.join("\n") + "\n").unwrap();
    let v = audit::verify(&[&path]).unwrap();
    assert_eq!(v.broken.as_ref().unwrap().line, 4, "{v:?}");
    assert!(v.broken.unwrap().what.contains("removed"));

    std::fs::write(&path, format!("{good}not an audit line\n")).unwrap();
    assert_eq!(audit::verify(&[&path]).unwrap().broken.unwrap().line, 7);
}

#[test]
fn the_tracing_layer_writes_by_level() {
    use tracing_subscriber::layer::SubscriberExt;
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2027-01-01 12:00");
    let logs = Arc::new(open(dir.path(), clock));
    let subscriber = tracing_subscriber::registry().with(LogLayer::new(Arc::clone(&logs)));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(project = "Q3.wzp", "project opened");
        tracing::debug!("not kept");
        tracing::error!(code = 17, "save failed");
    });
    let app = std::fs::read_to_string(logs.path(Channel::App, day("2027-01-01"))).unwrap();
    assert_eq!(app.lines().count(), 2, "{app}");
    assert!(
        app.contains("INFO  relops_client::logs::tests: project opened project=\"Q3.wzp\""),
        "{app}"
    );
    let err = std::fs::read_to_string(logs.path(Channel::Error, day("2027-01-01"))).unwrap();
    assert!(
        err.contains("ERROR") && err.contains("save failed code=17"),
        "{err}"
    );
}

#[test]
fn bad_configurations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Logs::open(LogConfig::new(dir.path(), "../x")).is_err());
    let mut cfg = LogConfig::new(dir.path(), "wizard");
    cfg.keep_days = 0;
    assert!(Logs::open(cfg).is_err());
    let logs = Logs::open(LogConfig::new(dir.path(), "wizard")).unwrap();
    assert!(logs.audit("x", &serde_json::json!([1])).is_err());
}

/// The files in a packed bundle, by name, with their text.
fn unpack(bytes: &[u8]) -> Vec<(String, String)> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = Vec::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut e, &mut text).unwrap();
        out.push((name, text));
    }
    out
}

#[test]
fn e_mail_addresses_are_redacted_and_nothing_else() {
    use bundle::redact_emails;
    for (line, want) in [
        ("mail anna.b+x@example.co.uk now", "mail [email] now"),
        ("two: a@x.de, b@y.org.", "two: [email], [email]."),
        ("Grüße an jörg@example.com", "Grüße an [email]"),
        ("Grüße an joerg@beispiel.de!", "Grüße an [email]!"),
        (
            "user@localhost and @home and a@b.c",
            "user@localhost and @home and a@b.c",
        ),
        ("no address here", "no address here"),
        ("x@@y.de @y.de x@.de", "x@@y.de @y.de x@.de"),
    ] {
        let mut l = line.to_owned();
        redact_emails(&mut l);
        assert_eq!(l, want, "{line}");
    }
}

#[test]
fn a_bundle_packs_the_last_days_app_and_error_logs_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2027-03-01 10:00");
    let logs = open(dir.path(), clock.clone());
    for d in 0..5 {
        logs.log(
            Level::Info,
            "wizard",
            &format!("day {d} for anna@example.com"),
        )
        .unwrap();
        logs.log(Level::Error, "wizard", &format!("error on day {d}"))
            .unwrap();
        logs.audit("login", &serde_json::json!({"user": "anna"}))
            .unwrap();
        clock.advance(Duration::days(1));
    }
    // Now 2027-03-06: the last 3 days are the 4th, 5th and 6th; nothing was written on the
    // 6th yet except what opening the day's files made.
    let packed = logs.pack(3, Some(&bundle::redact_emails)).unwrap();
    let files = unpack(&packed.bytes);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "manifest.json",
            "wizard_app.2027-03-04.log",
            "wizard_error.2027-03-04.log",
            "wizard_app.2027-03-05.log",
            "wizard_error.2027-03-05.log",
        ],
        "by day; the audit log is not in a bundle"
    );
    assert_eq!(packed.files, 4);
    assert_eq!(packed.days, 3);
    let app = &files[1].1;
    assert!(
        app.contains("day 3 for [email]") && !app.contains("anna@"),
        "{app}"
    );
    let manifest: serde_json::Value = serde_json::from_str(&files[0].1).unwrap();
    assert_eq!(manifest["redacted"], true);
    assert_eq!(manifest["cut"], serde_json::json!([]));
    // Without a redactor the lines are as written.
    let plain = unpack(&logs.pack(3, None).unwrap().bytes);
    assert!(plain[1].1.contains("anna@example.com"));
    assert!(logs.pack(0, None).is_err());
}

#[test]
fn a_small_budget_keeps_the_newest_lines_and_says_what_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2027-03-01 10:00");
    let logs = open(dir.path(), clock.clone());
    for d in 0..3 {
        for i in 0..100 {
            logs.log(Level::Info, "wizard", &format!("day {d} line {i:03}"))
                .unwrap();
        }
        clock.advance(Duration::days(1));
    }
    let mut files = logs.recent_files(3).unwrap();
    files.sort_by_key(|p| (file_day("wizard", p), p.clone()));
    // Day 2's app log is about 100 lines of ~60 bytes; 2,000 bytes keep its last lines only.
    let packed = logs.pack_within(&files, 3, None, 2_000).unwrap();
    let unpacked = unpack(&packed.bytes);
    let manifest: serde_json::Value = serde_json::from_str(&unpacked[0].1).unwrap();
    assert_eq!(
        manifest["cut"],
        serde_json::json!(["wizard_app.2027-03-03.log"])
    );
    // Now the 4th: the last 3 days are the 2nd to the 4th (whose files are empty yet).
    assert_eq!(
        manifest["left_out"],
        serde_json::json!(["wizard_app.2027-03-02.log"])
    );
    let (_, text) = unpacked
        .iter()
        .find(|(n, _)| n == "wizard_app.2027-03-03.log")
        .unwrap();
    assert!(text.len() <= 2_000);
    assert!(text.ends_with("day 2 line 099\n"), "{text}");
    assert!(
        text.lines().next().unwrap().contains("day 2 line"),
        "starts at a line"
    );
    assert!(!text.contains("day 2 line 000"));
}
