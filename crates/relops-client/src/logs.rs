//! The app's three log channels (playbook R-CR-2, R-CR-4), one file per channel and local day:
//!
//! | channel | file | what | kept |
//! |---|---|---|---|
//! | app | `{app}_app.{YYYY-MM-DD}.log` | info and up | `keep_days` (30) |
//! | error | `{app}_error.{YYYY-MM-DD}.log` | errors | `keep_days` (30) |
//! | audit | `{app}_audit.{YYYY-MM-DD}.log` | [`Logs::audit`] calls only | `audit_keep_days` (180) |
//!
//! A new file starts at the first line after local midnight (the date is the local date of
//! the line, so a DST change moves nothing). Old files are pruned when the logs are opened
//! and at the first line of every new day — no thread wakes for it. A channel's file stops
//! growing at `max_bytes_per_day`: one last line says so and the rest of the day's lines
//! are counted, not written (audit events past the cap are counted in the next day's first
//! audit line).
//!
//! Audit lines are hash-chained ([`audit`]): an edited, inserted or removed line is found by
//! [`audit::verify`] (`relops logs verify FILE…`). The chain continues across days and
//! restarts (the last line's hash is read back when the logs are opened).
//!
//! Rust apps add [`LogLayer`] to their `tracing` subscriber; C apps call `relops_log` and
//! `relops_audit` (crate `relops-sdk-ffi`).

pub mod audit;
pub mod bundle;
mod layer;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::Error;
pub use layer::LogLayer;

/// Where "now" comes from: the local time with its offset. Tests inject one that crosses
/// midnight and DST.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<FixedOffset>;
}

/// The machine's clock in its local time zone.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalClock;

impl Clock for LocalClock {
    fn now(&self) -> DateTime<FixedOffset> {
        chrono::Local::now().fixed_offset()
    }
}

/// How severe a line is. The app channel takes `Info` and up, the error channel `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    /// From the C ABI's number (1 error … 5 trace).
    pub fn from_number(n: i32) -> Option<Level> {
        Some(match n {
            1 => Level::Error,
            2 => Level::Warn,
            3 => Level::Info,
            4 => Level::Debug,
            5 => Level::Trace,
            _ => return None,
        })
    }
}

/// Where the logs go and how long they stay.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// The directory of the log files (created if missing).
    pub dir: PathBuf,
    /// The file name prefix, e.g. `wizard`: letters, digits, `-` and `_`.
    pub app: String,
    /// Days the app and error logs are kept, today included (playbook: 30).
    pub keep_days: u32,
    /// Days the audit log is kept, today included (playbook: 180).
    pub audit_keep_days: u32,
    /// Bytes a channel writes in one day at most.
    pub max_bytes_per_day: u64,
}

impl LogConfig {
    /// The playbook's defaults: 30 days, audit 180, 50 MiB per channel and day.
    pub fn new(dir: impl Into<PathBuf>, app: &str) -> Self {
        Self {
            dir: dir.into(),
            app: app.to_owned(),
            keep_days: 30,
            audit_keep_days: 180,
            max_bytes_per_day: 50 * 1024 * 1024,
        }
    }
}

/// The three channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    App,
    Error,
    Audit,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::App, Channel::Error, Channel::Audit];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::App => "app",
            Channel::Error => "error",
            Channel::Audit => "audit",
        }
    }
}

#[derive(Debug, Default)]
struct Sink {
    file: Option<File>,
    written: u64,
    /// Lines not written today because the cap was reached.
    over_cap: u64,
}

#[derive(Debug)]
struct State {
    day: Option<NaiveDate>,
    sinks: [Sink; 3],
    chain: audit::Chain,
    /// Audit events the cap kept out of yesterday's file (told in today's first line).
    audit_dropped: u64,
}

/// The open log channels of one app. Cheap to share (`Arc`); every write takes one lock.
#[derive(Debug)]
pub struct Logs {
    cfg: LogConfig,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl Logs {
    /// Opens the channels with the machine's clock, prunes old files and reads the audit
    /// chain's last hash back.
    pub fn open(cfg: LogConfig) -> Result<Self, Error> {
        Self::with_clock(cfg, Arc::new(LocalClock))
    }

    /// [`Logs::open`] with another clock.
    pub fn with_clock(cfg: LogConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        if cfg.app.is_empty()
            || !cfg
                .app
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::Config(format!(
                "log file prefix `{}`: use letters, digits, `-` and `_`",
                cfg.app
            )));
        }
        if cfg.keep_days == 0 || cfg.audit_keep_days == 0 {
            return Err(Error::Config(
                "keep_days and audit_keep_days must be at least 1".into(),
            ));
        }
        std::fs::create_dir_all(&cfg.dir).map_err(Error::io(&cfg.dir))?;
        let chain = audit::Chain::resume(&newest_file(&cfg, Channel::Audit)?)?;
        let logs = Self {
            cfg,
            clock,
            state: Mutex::new(State {
                day: None,
                sinks: Default::default(),
                chain,
                audit_dropped: 0,
            }),
        };
        logs.prune(logs.clock.now().date_naive())?;
        Ok(logs)
    }

    pub fn config(&self) -> &LogConfig {
        &self.cfg
    }

    /// The file of `channel` for local day `day`.
    pub fn path(&self, channel: Channel, day: NaiveDate) -> PathBuf {
        file_path(&self.cfg, channel, day)
    }

    /// Writes a line to the app log (`Info` and up) and, for errors, to the error log.
    /// `target` names the part of the app (`wizard::project`); line breaks in `message`
    /// are kept inside the line as `\n`, so one line is one record.
    pub fn log(&self, level: Level, target: &str, message: &str) -> Result<(), Error> {
        if level > Level::Info {
            return Ok(());
        }
        let now = self.clock.now();
        let line = format!(
            "{} {:<5} {}: {}\n",
            now.to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            level.as_str(),
            one_line(target),
            one_line(message)
        );
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.roll(&mut st, now.date_naive())?;
        self.write(&mut st, Channel::App, line.as_bytes())?;
        if level == Level::Error {
            self.write(&mut st, Channel::Error, line.as_bytes())?;
        }
        Ok(())
    }

    /// Records a security or compliance event (a sign-in, an export, a permission change)
    /// in the audit log, hash-chained to the line before it. `fields` is a JSON object.
    pub fn audit(&self, event: &str, fields: &serde_json::Value) -> Result<(), Error> {
        if !fields.is_object() {
            return Err(Error::Config(
                "audit fields must be a JSON object ({\"user\": \"…\"})".into(),
            ));
        }
        let now = self.clock.now();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.roll(&mut st, now.date_naive())?;
        let idx = Channel::Audit as usize;
        if st.sinks[idx].written >= self.cfg.max_bytes_per_day {
            st.sinks[idx].over_cap += 1;
            return Ok(());
        }
        if st.audit_dropped > 0 {
            let n = st.audit_dropped;
            st.audit_dropped = 0;
            let line = st.chain.next_line(
                &now,
                "log.dropped",
                &serde_json::json!({"events": n, "why": "the audit log's daily size cap"}),
            );
            self.write_raw(&mut st, Channel::Audit, line.as_bytes())?;
        }
        let line = st.chain.next_line(&now, event, fields);
        self.write_raw(&mut st, Channel::Audit, line.as_bytes())
    }

    /// Deletes the files older than their channel keeps them, counted back from `today`
    /// (which is kept): `keep_days` of 30 leaves today and the 29 days before it.
    pub fn prune(&self, today: NaiveDate) -> Result<(), Error> {
        let dir = &self.cfg.dir;
        for entry in std::fs::read_dir(dir).map_err(Error::io(dir))?.flatten() {
            let name = entry.file_name();
            let Some((channel, day)) = parse_name(&self.cfg.app, &name.to_string_lossy()) else {
                continue;
            };
            let keep = match channel {
                Channel::Audit => self.cfg.audit_keep_days,
                _ => self.cfg.keep_days,
            };
            if (today - day).num_days() >= i64::from(keep) {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(Error::io(&path))?;
            }
        }
        Ok(())
    }

    /// The app and error log files of the last `days` local days (today included), oldest
    /// first: what a log bundle packs.
    pub fn recent_files(&self, days: u32) -> Result<Vec<PathBuf>, Error> {
        let today = self.clock.now().date_naive();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.cfg.dir)
            .map_err(Error::io(&self.cfg.dir))?
            .flatten()
        {
            let name = entry.file_name();
            if let Some((channel, day)) = parse_name(&self.cfg.app, &name.to_string_lossy())
                && channel != Channel::Audit
                && (today - day).num_days() < i64::from(days)
                && day <= today
            {
                out.push(entry.path());
            }
        }
        out.sort();
        Ok(out)
    }

    /// Opens today's files when the day changed (and prunes); called under the lock.
    fn roll(&self, st: &mut State, today: NaiveDate) -> Result<(), Error> {
        if st.day == Some(today) {
            return Ok(());
        }
        let changed_day = st.day.is_some();
        st.audit_dropped += st.sinks[Channel::Audit as usize].over_cap;
        for ch in Channel::ALL {
            let path = self.path(ch, today);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(Error::io(&path))?;
            let written = file.metadata().map(|m| m.len()).unwrap_or(0);
            st.sinks[ch as usize] = Sink {
                file: Some(file),
                written,
                over_cap: 0,
            };
        }
        st.day = Some(today);
        if changed_day {
            self.prune(today)?;
        }
        Ok(())
    }

    /// Appends `line` to `channel`, or counts it when the day's cap is reached (writing
    /// one line that says so).
    fn write(&self, st: &mut State, channel: Channel, line: &[u8]) -> Result<(), Error> {
        let cap = self.cfg.max_bytes_per_day;
        let sink = &mut st.sinks[channel as usize];
        if sink.written >= cap {
            sink.over_cap += 1;
            return Ok(());
        }
        if sink.written + line.len() as u64 > cap {
            let note = format!(
                "{} WARN  relops_client::logs: this file reached its daily limit of {cap} bytes; further lines today are not written\n",
                self.clock
                    .now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
            );
            self.write_raw(st, channel, note.as_bytes())?;
            st.sinks[channel as usize].written = cap;
            st.sinks[channel as usize].over_cap += 1;
            return Ok(());
        }
        self.write_raw(st, channel, line)
    }

    fn write_raw(&self, st: &mut State, channel: Channel, line: &[u8]) -> Result<(), Error> {
        let path = st.day.map(|d| self.path(channel, d)).unwrap_or_default();
        let sink = &mut st.sinks[channel as usize];
        let Some(file) = sink.file.as_mut() else {
            return Ok(());
        };
        file.write_all(line).map_err(Error::io(&path))?;
        sink.written += line.len() as u64;
        Ok(())
    }
}

fn file_path(cfg: &LogConfig, channel: Channel, day: NaiveDate) -> PathBuf {
    cfg.dir.join(format!(
        "{}_{}.{}.log",
        cfg.app,
        channel.as_str(),
        day.format("%Y-%m-%d")
    ))
}

/// `{app}_{channel}.{YYYY-MM-DD}.log` → its channel and day.
fn parse_name(app: &str, name: &str) -> Option<(Channel, NaiveDate)> {
    let rest = name
        .strip_prefix(app)?
        .strip_prefix('_')?
        .strip_suffix(".log")?;
    let (channel, day) = rest.split_once('.')?;
    let channel = Channel::ALL.into_iter().find(|c| c.as_str() == channel)?;
    Some((channel, NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?))
}

/// The newest existing file of `channel`, if any.
fn newest_file(cfg: &LogConfig, channel: Channel) -> Result<Option<PathBuf>, Error> {
    let mut newest: Option<(NaiveDate, PathBuf)> = None;
    for entry in std::fs::read_dir(&cfg.dir)
        .map_err(Error::io(&cfg.dir))?
        .flatten()
    {
        if let Some((ch, day)) = parse_name(&cfg.app, &entry.file_name().to_string_lossy())
            && ch == channel
            && newest.as_ref().is_none_or(|(d, _)| day > *d)
        {
            newest = Some((day, entry.path()));
        }
    }
    Ok(newest.map(|(_, p)| p))
}

fn one_line(s: &str) -> String {
    s.replace('\r', "\\r").replace('\n', "\\n")
}

/// The day of a log file, when its name is one of `app`'s (`wizard_app.2026-12-06.log`).
pub fn file_day(app: &str, path: &Path) -> Option<NaiveDate> {
    parse_name(app, &path.file_name()?.to_string_lossy()).map(|(_, d)| d)
}

#[cfg(test)]
mod tests;
