//! The server's configuration: `relops.toml` in the data directory, overridden by
//! `RELOPS_*` environment variables, overridden by command-line flags.
//!
//! Relative paths in the file are relative to the data directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use relops_core::calendar::{BusinessCalendar, HolidayRules};
use relops_store::BlobConfig;
use serde::{Deserialize, Serialize};

mod console;
mod crashes;
mod health;
mod retention;
mod support;

pub use console::{ConsoleConfig, OidcConfig};
pub use crashes::CrashesConfig;
pub use health::{AlertsConfig, CriticalRule, HealthConfig};
pub use retention::RetentionConfig;
pub use support::{GithubConfig, JiraConfig, SupportConfig, ZendeskConfig};

/// Name of the config file inside the data directory.
pub const CONFIG_FILE: &str = "relops.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. `127.0.0.1:0` picks a free port (printed at start).
    pub listen: SocketAddr,
    /// Serve HTTPS: a PEM certificate chain and its PEM private key (both, or neither).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `sqlite://PATH` (relative to the data dir) or `postgres://USER:PASS@HOST/DB`.
    pub database_url: String,
    /// Products served; the first is the default when a request names none.
    pub products: Vec<String>,
    /// Largest artifact accepted, in bytes (413 above).
    pub max_artifact_bytes: u64,
    /// Where keys live (relative to the data dir).
    pub keys_dir: PathBuf,
    pub blob: BlobConfig,
    pub calendar: CalendarConfig,
    pub feed: FeedConfig,
    pub gates: GatesConfig,
    pub audit: AuditConfig,
    pub rollout: RolloutConfig,
    pub notify: NotifyConfig,
    pub ingest: IngestConfig,
    pub health: HealthConfig,
    pub alerts: AlertsConfig,
    pub http: HttpConfig,
    pub support: SupportConfig,
    pub console: ConsoleConfig,
    pub crashes: CrashesConfig,
    pub retention: RetentionConfig,
}

/// The `[http]` section: how long a client may take (slow clients hold connections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// A request's headers must arrive within this many seconds of the connection being
    /// ready for them (the first, or the next on a kept-alive connection); else the
    /// connection is closed.
    pub header_timeout_seconds: u64,
    /// A request body may pause for at most this many seconds between two chunks; else
    /// the request is refused (400) and nothing is stored.
    pub body_idle_timeout_seconds: u64,
    /// Reverse proxies in front of relops (addresses or CIDR networks, `10.0.0.0/8`). A
    /// request from one of them is taken to come from the address its `X-Forwarded-For`
    /// names last outside this list; any other request from its peer address.
    #[serde(with = "networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `GET /metrics` answers without a token (Prometheus scrapes it); `false`: it needs
    /// any valid API token (`Authorization: Bearer`).
    pub metrics_public: bool,
    /// Record metrics and serve `GET /metrics`; `false`: nothing is recorded and
    /// `/metrics` answers 404.
    pub metrics: bool,
}

/// Networks written as CIDR (`10.0.0.0/8`) or as one address (`127.0.0.1`).
mod networks {
    use ipnet::IpNet;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[IpNet], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| {
                t.parse::<IpNet>()
                    .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        serde::de::Error::custom(format!(
                            "`{t}` is neither an address (10.0.0.1) nor a network (10.0.0.0/8)"
                        ))
                    })
            })
            .collect()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout_seconds: 20,
            body_idle_timeout_seconds: 30,
            trusted_proxies: Vec::new(),
            metrics_public: true,
            metrics: true,
        }
    }
}

/// The `[ingest]` section: crash and telemetry ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body after decompression (413 above).
    pub max_body_bytes: usize,
    /// The URL installs reach this server at, for the DSN (`relops ingest dsn`); default:
    /// the Host the request came in on, over http.
    pub public_url: Option<String>,
    /// Requests per second one ingest key may send (sustained), and the burst above it.
    pub key_rate_per_second: u32,
    pub key_burst: u32,
    /// Requests per minute one install may send (sustained), and the burst above it.
    pub install_rate_per_minute: u32,
    pub install_burst: u32,
    /// Distinct installs of one release that one network may add to the release's health
    /// figures in 24 h (0: no bound). The rest of its records are stored but do not count.
    pub installs_per_network: u32,
    /// What one network is: an IPv4 address's first this many bits …
    pub network_prefix_v4: u8,
    /// … and an IPv6 address's.
    pub network_prefix_v6: u8,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 20 * 1024 * 1024,
            public_url: None,
            key_rate_per_second: 5000,
            key_burst: 10000,
            install_rate_per_minute: 120,
            install_burst: 60,
            installs_per_network: 500,
            network_prefix_v4: 24,
            network_prefix_v6: 48,
        }
    }
}

/// The `[rollout]` section: minimum soak per stage (R-REL-9). The channels are `[feed]
/// channels`: the first is the pilot channel, the last the production channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutConfig {
    pub pilot_soak_hours: i64,
    pub p25_soak_hours: i64,
    pub p50_soak_hours: i64,
    /// How long a person's rollback request waits for its second person (R-RB-2).
    pub rollback_confirm_minutes: i64,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            pilot_soak_hours: 48,
            p25_soak_hours: 24,
            p50_soak_hours: 24,
            rollback_confirm_minutes: 30,
        }
    }
}

impl RolloutConfig {
    pub fn plan(&self) -> relops_core::rollout::Plan {
        relops_core::rollout::Plan {
            pilot_soak: chrono::Duration::hours(self.pilot_soak_hours),
            p25_soak: chrono::Duration::hours(self.p25_soak_hours),
            p50_soak: chrono::Duration::hours(self.p50_soak_hours),
        }
    }
}

/// The `[notify]` section: where rollout steps, halts and rollbacks are reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// First retry after a failed delivery, in seconds; doubled per attempt.
    pub retry_initial_seconds: f64,
    /// Longest wait between retries, in seconds.
    pub retry_max_seconds: f64,
    /// Time allowed for one delivery, in seconds.
    pub timeout_seconds: f64,
    pub webhooks: Vec<Webhook>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            retry_initial_seconds: 5.0,
            retry_max_seconds: 900.0,
            timeout_seconds: 10.0,
            webhooks: Vec::new(),
        }
    }
}

/// One `[[notify.webhooks]]` destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// A name for `relops notify list`.
    pub name: String,
    /// `slack` (incoming-webhook JSON), `pagerduty` (Events API v2) or `webhook` (relops'
    /// own JSON).
    pub kind: WebhookKind,
    pub url: String,
    /// Slack: the channel to post to, e.g. `#wizard-release`.
    #[serde(default)]
    pub channel: Option<String>,
    /// PagerDuty: the integration's routing key.
    #[serde(default)]
    pub routing_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    Slack,
    Pagerduty,
    Webhook,
}

impl WebhookKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Pagerduty => "pagerduty",
            Self::Webhook => "webhook",
        }
    }
}

/// The `[audit]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Entries younger than this are never pruned (R-CR-4: 180 days); `relops audit prune`
    /// removes only older ones, and never the newest entry. Set only in the server's config
    /// file: the API cannot shorten it.
    pub retention_days: i64,
    /// How often the server signs a checkpoint of the chain head, in seconds (only when the
    /// chain grew): what an attacker with database access could remove unnoticed is what
    /// was written since the last one.
    pub checkpoint_interval_seconds: u64,
    /// Where every signed checkpoint is also appended, outside the database (relative to
    /// the data dir): `relops audit verify` checks the chain against it. Put it where the
    /// database's users cannot write (another volume, an append-only file).
    pub anchor_file: PathBuf,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: 180,
            checkpoint_interval_seconds: 60,
            anchor_file: PathBuf::from("audit-anchors.jsonl"),
        }
    }
}

/// The `[gates]` section: release gates (R-REL-5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatesConfig {
    /// Line coverage (percent) the coverage gate requires.
    pub min_line_coverage: f64,
    /// Lowest vulnerability severity that fails the scan gate: low, medium, high, critical.
    pub fail_at_severity: relops_gates::scan::Severity,
    /// Largest report accepted per file (413 above).
    pub max_report_bytes: usize,
    /// Gates that must have passed before approval (default: all); a recorded failing gate
    /// always blocks.
    pub required: Vec<String>,
    /// Licence policy of the SBOM gate.
    pub licences: relops_gates::sbom::LicencePolicy,
    /// The QA item is signed only when the tests gate holds UI smoke results (R-REL-5).
    pub require_ui_smoke: bool,
    /// Go needs platform signing evidence (R-REL-6): a notarization id on every `.dmg`,
    /// an Authenticode signer on every `.msi`/`.msix`.
    pub require_signing_evidence: bool,
    /// The company's code-signing subject (`CN=Wizard GmbH`): every signed `.msi` must be
    /// signed by it, and every claimed signer must name it. Unset: any signer.
    pub authenticode_subject: Option<String>,
}

impl Default for GatesConfig {
    fn default() -> Self {
        Self {
            min_line_coverage: 70.0,
            fail_at_severity: relops_gates::scan::Severity::High,
            max_report_bytes: 16 * 1024 * 1024,
            required: GATES.iter().map(|g| (*g).to_owned()).collect(),
            licences: relops_gates::sbom::LicencePolicy::default(),
            require_ui_smoke: true,
            require_signing_evidence: true,
            authenticode_subject: None,
        }
    }
}

/// The gates relops knows.
pub const GATES: [&str; 6] = [
    "coverage",
    "tests",
    "lint",
    "sbom",
    "vulnerabilities",
    "secrets",
];

/// The `[feed]` section: the signed update feed (TUF).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedConfig {
    /// Update channels: the first is the pilot channel (offered a release in full from
    /// the pilot stage on), the last the production channel (offered the stage's share).
    pub channels: Vec<String>,
    /// Published versions kept in the feed per platform (rollback stock, R-RB-3).
    pub keep_releases: usize,
    /// Lifetime of `timestamp.json`; the server re-signs it when half has passed.
    pub timestamp_expiry_hours: i64,
    /// Lifetime of `snapshot.json`.
    pub snapshot_expiry_days: i64,
    /// Lifetime of `targets.json`.
    pub targets_expiry_days: i64,
    /// Lifetime of `root.json`.
    pub root_expiry_days: i64,
    /// How often the server checks for metadata to re-sign, in seconds.
    pub refresh_interval_seconds: u64,
    /// Root keys `relops init` makes (`keys/root.json`, `root-2.json`, …).
    pub root_keys: usize,
    /// Root signatures a client requires (k of `root_keys`).
    pub root_threshold: u32,
    /// Memory for update files served from RAM instead of the blob store (0: off).
    pub target_cache_mib: u64,
    /// Largest update file kept in that memory; larger ones stream from the store.
    pub target_cache_max_file_mib: u64,
}

impl FeedConfig {
    /// The pilot channel: the first of `channels`.
    pub fn pilot_channel(&self) -> &str {
        self.channels.first().map_or("internal", String::as_str)
    }

    /// The production channel: the last of `channels`.
    pub fn production_channel(&self) -> &str {
        self.channels.last().map_or("stable", String::as_str)
    }

    /// The rollout state a release's targets carry in the feed.
    pub fn rollout_state(
        &self,
        r: &relops_store::RolloutRecord,
    ) -> relops_core::offer::FeedRollout {
        relops_core::offer::FeedRollout::of(
            &r.rollout,
            &r.salt,
            self.pilot_channel(),
            self.production_channel(),
        )
    }
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            channels: vec!["internal".into(), "stable".into()],
            keep_releases: 3,
            timestamp_expiry_hours: 24,
            snapshot_expiry_days: 7,
            targets_expiry_days: 90,
            root_expiry_days: 365,
            refresh_interval_seconds: 60,
            root_keys: 1,
            root_threshold: 1,
            target_cache_mib: 256,
            target_cache_max_file_mib: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarConfig {
    /// Built-in holidays: `de` (German federal holidays) or `none`.
    pub holidays: HolidayRules,
    /// Extra non-business days, `YYYY-MM-DD`.
    pub extra_holidays: Vec<NaiveDate>,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        Self {
            holidays: HolidayRules::GermanFederal,
            extra_holidays: Vec::new(),
        }
    }
}

impl CalendarConfig {
    pub fn calendar(&self) -> BusinessCalendar {
        BusinessCalendar::new(self.holidays, self.extra_holidays.iter().copied())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            database_url: "sqlite://relops.db".to_owned(),
            products: vec!["wizard".to_owned()],
            max_artifact_bytes: 4 * 1024 * 1024 * 1024,
            keys_dir: PathBuf::from("keys"),
            blob: BlobConfig::Local {
                path: PathBuf::from("blobs"),
            },
            calendar: CalendarConfig::default(),
            feed: FeedConfig::default(),
            gates: GatesConfig::default(),
            audit: AuditConfig::default(),
            rollout: RolloutConfig::default(),
            notify: NotifyConfig::default(),
            ingest: IngestConfig::default(),
            health: HealthConfig::default(),
            alerts: AlertsConfig::default(),
            http: HttpConfig::default(),
            support: SupportConfig::default(),
            console: ConsoleConfig::default(),
            crashes: CrashesConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error(transparent)]
    Figment(#[from] Box<figment::Error>),
}

impl ServerConfig {
    /// Loads `DATA_DIR/relops.toml` (or `config_file`), then `RELOPS_*` variables
    /// (`RELOPS_LISTEN`, `RELOPS_DATABASE_URL`, `RELOPS_BLOB__KIND`, …), and resolves relative
    /// paths against `data_dir`.
    pub fn load(data_dir: &Path, config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let file = config_file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| data_dir.join(CONFIG_FILE));
        // No `Serialized::defaults` layer: it would merge the default `[blob]` keys into an
        // S3 section. `#[serde(default)]` fills in what the file leaves out.
        let cfg: ServerConfig = Figment::from(Toml::file_exact(&file))
            .merge(Env::prefixed("RELOPS_").split("__").only(&[
                "listen",
                "database_url",
                "max_artifact_bytes",
                "blob",
            ]))
            .extract()
            .map_err(|e| {
                ConfigError::Figment(Box::new(e.with_path(&file.display().to_string())))
            })?;
        cfg.resolved(data_dir)
    }

    /// Checks the values and makes relative paths absolute under `data_dir`.
    pub fn resolved(mut self, data_dir: &Path) -> Result<Self, ConfigError> {
        self.support
            .clock(self.calendar.calendar())
            .map_err(ConfigError::Invalid)?;
        if !(1..=24 * 30).contains(&self.console.session_hours) {
            return Err(ConfigError::Invalid(
                "[console] session_hours must be 1-720 (a console session lasts at most 30 days)"
                    .into(),
            ));
        }
        if let Some(o) = &self.console.oidc {
            o.validate().map_err(ConfigError::Invalid)?;
        }
        if self.products.is_empty() {
            return Err(ConfigError::Invalid(
                "`products` is empty: name at least one, e.g. products = [\"wizard\"]".into(),
            ));
        }
        for p in &self.products {
            let ok = !p.is_empty()
                && p.len() <= 64
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "product name `{p}` must be 1-64 characters of a-z, 0-9 and -"
                )));
            }
        }
        let f = &self.feed;
        if f.channels.is_empty() || f.keep_releases == 0 {
            return Err(ConfigError::Invalid(
                "[feed] needs at least one channel and keep_releases >= 1".into(),
            ));
        }
        if f.root_threshold < 1 || f.root_threshold as usize > f.root_keys {
            return Err(ConfigError::Invalid(format!(
                "[feed] root_threshold = {} must be between 1 and root_keys = {}",
                f.root_threshold, f.root_keys
            )));
        }
        if f.timestamp_expiry_hours < 1
            || f.snapshot_expiry_days < 1
            || f.targets_expiry_days < 1
            || f.root_expiry_days < 1
            || f.refresh_interval_seconds == 0
        {
            return Err(ConfigError::Invalid(
                "[feed] expiry times and refresh_interval_seconds must be at least 1".into(),
            ));
        }
        if let Some(g) = self
            .gates
            .required
            .iter()
            .find(|g| !GATES.contains(&g.as_str()))
        {
            return Err(ConfigError::Invalid(format!(
                "[gates] required names `{g}`: the gates are {}",
                GATES.join(", ")
            )));
        }
        if !(0.0..=100.0).contains(&self.gates.min_line_coverage) {
            return Err(ConfigError::Invalid(
                "[gates] min_line_coverage must be 0-100".into(),
            ));
        }
        if self.http.header_timeout_seconds == 0 || self.http.body_idle_timeout_seconds == 0 {
            return Err(ConfigError::Invalid(
                "[http] header_timeout_seconds and body_idle_timeout_seconds must be at least 1"
                    .into(),
            ));
        }
        if self.ingest.network_prefix_v4 > 32 || self.ingest.network_prefix_v6 > 128 {
            return Err(ConfigError::Invalid(
                "[ingest] network_prefix_v4 is at most 32 and network_prefix_v6 at most 128".into(),
            ));
        }
        if self.audit.retention_days < 0 || self.audit.checkpoint_interval_seconds == 0 {
            return Err(ConfigError::Invalid(
                "[audit] retention_days must be 0 or more (the playbook keeps 180) and checkpoint_interval_seconds at least 1".into(),
            ));
        }
        let r = &self.rollout;
        if r.pilot_soak_hours < 0 || r.p25_soak_hours < 0 || r.p50_soak_hours < 0 {
            return Err(ConfigError::Invalid(
                "[rollout] soak hours must be 0 or more".into(),
            ));
        }
        if !(1..=24 * 60).contains(&r.rollback_confirm_minutes) {
            return Err(ConfigError::Invalid(
                "[rollout] rollback_confirm_minutes must be between 1 and 1440".into(),
            ));
        }
        let n = &self.notify;
        if !(n.retry_initial_seconds > 0.0
            && n.retry_max_seconds >= n.retry_initial_seconds
            && n.timeout_seconds > 0.0)
        {
            return Err(ConfigError::Invalid(
                "[notify] needs retry_initial_seconds > 0, retry_max_seconds >= retry_initial_seconds and timeout_seconds > 0".into(),
            ));
        }
        for w in &n.webhooks {
            if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                return Err(ConfigError::Invalid(format!(
                    "[[notify.webhooks]] `{}`: url `{}` must start with https:// or http://",
                    w.name, w.url
                )));
            }
            if w.kind == WebhookKind::Pagerduty && w.routing_key.is_none() {
                return Err(ConfigError::Invalid(format!(
                    "[[notify.webhooks]] `{}` is kind = \"pagerduty\": set routing_key to the integration key",
                    w.name
                )));
            }
        }
        self.alerts
            .validate(&self.health)
            .map_err(ConfigError::Invalid)?;
        self.crashes.validate().map_err(ConfigError::Invalid)?;
        self.retention
            .rules(self.audit.retention_days, self.support.retain_closed_days)
            .check()
            .map_err(ConfigError::Invalid)?;
        if self.max_artifact_bytes == 0 {
            return Err(ConfigError::Invalid(
                "`max_artifact_bytes` must be above 0".into(),
            ));
        }
        let abs = |p: &Path| -> PathBuf {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                data_dir.join(p)
            }
        };
        self.keys_dir = abs(&self.keys_dir);
        self.support.kb_repository = abs(&self.support.kb_repository);
        self.audit.anchor_file = abs(&self.audit.anchor_file);
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "set both tls_cert and tls_key (PEM files) to serve HTTPS, or neither".into(),
            ));
        }
        self.tls_cert = self.tls_cert.as_deref().map(abs);
        self.tls_key = self.tls_key.as_deref().map(abs);
        if let BlobConfig::Local { path } = &mut self.blob {
            *path = abs(path);
        }
        if let Some(rest) = self.database_url.strip_prefix("sqlite://") {
            let path = Path::new(rest.split('?').next().unwrap_or(rest));
            if !path.is_absolute() && !rest.starts_with(':') {
                let query = rest.find('?').map(|i| &rest[i..]).unwrap_or("");
                self.database_url = format!("sqlite://{}{query}", data_dir.join(path).display());
            }
        }
        Ok(self)
    }

    /// The config file that `relops init` writes: the defaults, commented.
    pub fn initial_file() -> String {
        r##"# relops configuration. Relative paths are relative to this file's directory.
# Every key can also be set by an environment variable: RELOPS_LISTEN,
# RELOPS_DATABASE_URL, RELOPS_MAX_ARTIFACT_BYTES, RELOPS_BLOB__KIND, ...

listen = "127.0.0.1:8080"
# Serve HTTPS (PEM files; both or neither). Installs then report and update over https.
# tls_cert = "tls/fullchain.pem"
# tls_key = "tls/privkey.pem"

# Embedded default: SQLite in WAL mode. For several replicas use PostgreSQL:
# database_url = "postgres://relops:secret@db.example/relops"
database_url = "sqlite://relops.db"

# Products served; commands take --product once there is more than one.
products = ["wizard"]

# Largest artifact accepted (bytes).
max_artifact_bytes = 4294967296

keys_dir = "keys"

[blob]
kind = "local"
path = "blobs"
# S3-compatible store instead:
# kind = "s3"
# bucket = "relops"
# endpoint = "https://s3.example"
# region = "eu-central-1"
# access_key_id = "..."
# secret_access_key = "..."

[calendar]
# Built-in holidays: "de" (German federal holidays) or "none".
holidays = "de"
# Extra non-business days (company holidays, regional holidays).
extra_holidays = []

[feed]
# The signed update feed (TUF), served at /tuf/PRODUCT/.
# Channels: the first is the pilot channel (opted-in installs get a release in full
# from its pilot stage on), the last the production channel (gets the stage's share).
channels = ["internal", "stable"]
# Published versions kept per platform (rollback stock).
keep_releases = 3
timestamp_expiry_hours = 24
snapshot_expiry_days = 7
targets_expiry_days = 90
root_expiry_days = 365
refresh_interval_seconds = 60
# Root keys made by `relops init`, and how many must sign a root (k of n). Root keys
# can live offline once the feed exists; they are needed only to sign new root versions
# (key rotation).
root_keys = 1
root_threshold = 1
# Update files served from memory (MiB; 0 turns it off), and the largest file kept
# there; larger files stream from the blob store.
target_cache_mib = 256
target_cache_max_file_mib = 64

[gates]
# Release gates: reports of real tools, verdicts computed by relops.
min_line_coverage = 70.0
fail_at_severity = "high"
max_report_bytes = 16777216
# Gates that must have passed before `relops approve` (a failing gate always blocks).
# The checklist's QA and Security items need their gates in any case.
required = ["coverage", "tests", "lint", "sbom", "vulnerabilities", "secrets"]
# QA signs only when the tests gate holds UI smoke results (a suite or class named *smoke*).
require_ui_smoke = true
# Go needs platform signing evidence: --notarization-id on every .dmg, --authenticode-signer
# on every .msi/.msix (R-REL-6).
require_signing_evidence = true
# The company's code-signing subject; every signed .msi (and every claimed signer) must match.
# authenticode_subject = "CN=Wizard GmbH"

[audit]
# R-CR-4: the audit trail is kept 180 days; pruning keeps a signed checkpoint.
retention_days = 180
# A signed checkpoint of the chain head once a minute when it grew, kept in the database and
# appended to the anchor file (docs/audit.md: what each detects).
checkpoint_interval_seconds = 60
anchor_file = "audit-anchors.jsonl"

[rollout]
# Minimum soak per stage before `relops rollout advance` (pilot 5 % -> 25 % -> 50 % -> 100 %).
pilot_soak_hours = 48
p25_soak_hours = 24
p50_soak_hours = 24
# A person's rollback is decided by on-call DevOps together with the Product Owner
# (R-RB-2): the first files it, the second confirms within this many minutes. The
# automatic rollback on a critical failure does not wait.
rollback_confirm_minutes = 30

[notify]
# Rollout steps, halts and rollbacks go to these webhooks through a durable outbox,
# retried with doubling backoff until a 2xx.
retry_initial_seconds = 5.0
retry_max_seconds = 900.0
timeout_seconds = 10.0
# [[notify.webhooks]]
# name = "release-channel"
# kind = "slack"                 # Slack incoming webhook
# url = "https://hooks.slack.com/services/..."
# channel = "#wizard-release"
# [[notify.webhooks]]
# name = "on-call"
# kind = "pagerduty"             # PagerDuty Events API v2: halt/rollback trigger, resume resolves
# url = "https://events.pagerduty.com/v2/enqueue"
# routing_key = "..."
# [[notify.webhooks]]
# name = "ops-bus"
# kind = "webhook"               # relops' own JSON event
# url = "https://ops.example/relops"

[ingest]
# Crash and telemetry ingest (Sentry-compatible). Largest body after decompression:
max_body_bytes = 20971520
# The URL installs reach this server at, used in the DSN (`relops ingest dsn`):
# public_url = "https://relops.example"
# Rate limits (429 with Retry-After and X-Sentry-Rate-Limits above them):
key_rate_per_second = 5000
key_burst = 10000
install_rate_per_minute = 120
install_burst = 60
# One network (an IPv4 /24, an IPv6 /48) adds at most this many installs of a release to its
# health figures in 24 h; the rest is stored but not counted (docs/ingest.md). 0: no bound.
installs_per_network = 500

[http]
# Slow clients: headers within this many seconds, and no pause longer than this in a body.
header_timeout_seconds = 20
body_idle_timeout_seconds = 30
# Reverse proxies in front of relops, whose X-Forwarded-For names the client:
# trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
# GET /metrics (Prometheus, docs/metrics.md) answers without a token; false: any valid token.
metrics_public = true
# false: record no metrics at all (GET /metrics answers 404).
metrics = true

[health]
# Release health (docs/health.md). Crash rate = crashed / active installs in 24 h, judged by
# a sequential probability ratio test: H0 rate <= p0 against H1 rate = p1.
p0 = 0.02
p1 = 0.04
alpha = 0.01      # chance of halting a release that is exactly at p0
beta = 0.05       # chance of passing a release that is exactly at p1
min_installs = 50 # below this the gate reads "unknown"
# `relops rollout advance` needs a passing gate (or --force --reason, audited).
gate_rollout = true
# Health over time for the console's charts: recorded every hour, kept 90 days.
history_interval_seconds = 3600
history_days = 90

[alerts]
# What happens when a rule fires (each fires once per episode, not per event).
auto_halt = true              # crash-rate test fails: halt, page, incident
auto_rollback = true          # critical failures: roll back at once, page, incident
critical_min_installs = 3     # distinct installs with a critical crash in 24 h
memory_host_percent = 90      # memory warnings at or above this count
memory_min_warnings = 1       # ... and this many in 24 h alert support
maintenance_interval_seconds = 60  # re-judge releases, report overdue post-mortems
[[alerts.error_codes]]
code = "TOB_PARSE_ERROR"      # more than max_24h events in 24 h: QA alert, hotfix item
max_24h = 10
# Crash fingerprint rules: a crash event whose tag has one of the values is critical.
[[alerts.critical]]
name = "crash on start"
tag = "phase"
values = ["startup"]
[[alerts.critical]]
name = "crash on project open"
tag = "phase"
values = ["project_open"]
[[alerts.critical]]
name = "data loss"
tag = "data_loss"
values = ["true", "yes", "1"]
# Stack rules, judged once the crash is processed (docs/crash-analysis.md): `frame` (a
# function among the top ten, `*` for any text), `exception`, `within_seconds` of start.
[[alerts.critical]]
name = "crash on start"
within_seconds = 10
# [[alerts.critical]]
# name = "crash on project open"
# frame = "*ProjectLoader::open*"

[support]
# The support desk (docs/support.md). First response due within these hours per priority;
# Critical around the clock, High and Normal in working hours on [calendar] business days.
critical_hours = 4
high_hours = 8
normal_hours = 24
critical_around_the_clock = true
working_hours_start = "09:00"
working_hours_end = "17:00"
time_zone = "Europe/Berlin"
# A customer's reply to a ticket closed longer ago opens a follow-up ticket instead.
reopen_days = 14
# Largest customer mail taken, attachments included (bytes).
max_message_bytes = 26214400
# Mail to customers: the desk's sender, and the SMTP server that sends (without one,
# replies are recorded on the ticket but not mailed).
from = "Support <support@example.com>"
# smtp_url = "smtp://127.0.0.1:25"
# Where customers reach this server, for the confirmation and unsubscribe links in mail
# (default: [ingest] public_url).
# public_url = "https://relops.example"
# Major-incident mail-outs are handed to the SMTP server at this pace.
mailout_per_minute = 120
# Closed tickets lose their customer data this many days after closing (0: kept).
retain_closed_days = 0
# The knowledge base's revisions are committed to this Git repository (`git log` shows them).
kb_repository = "kb"
# The app's "report a problem" uses the public DSN key: bound what anyone can file.
app_tickets_per_hour = 60
app_tickets_per_install_per_day = 3
# Escalation of reproducible bugs (`relops ticket escalate --tracker jira|github`):
# [support.jira]
# url = "https://wizard.atlassian.net"
# project = "WIZ"
# user = "relops@wizard.example"
# api_token = "..."
# [support.github]
# repo = "wizard/wizard"
# token = "..."

[retention]
# R-RET-1 (docs/retention.md): days each class is kept, 0 = for ever. Release notes, incidents
# and post-mortems are kept for ever; the audit trail follows [audit] retention_days, closed
# tickets [support] retain_closed_days. `relops retention plan` shows what would go.
artifacts_days = 365
evidence_days = 365
symbols_days = 365
crash_dumps_days = 90
log_bundles_days = 30
telemetry_days = 90
# R-RB-3: the newest 3 releases (per product, and per channel in the feed) are never pruned.
keep_releases = 3
# Run once a day (one replica of a deployment does).
daily = true

[console]
# The web console (docs/console.md): log in at / with an API token.
session_hours = 12
# Mark the session cookie Secure (default: when tls_cert is set; true behind a TLS proxy).
# secure_cookie = true
# Single sign-on through the company's OpenID provider; its groups map to relops roles.
# [console.oidc]
# issuer = "https://login.example.com"
# client_id = "relops"
# client_secret = "..."
# redirect_url = "https://relops.example.com/login/oidc/callback"
# roles_claim = "groups"
# [console.oidc.roles]
# "wizard-oncall" = ["oncall_devops"]
# "wizard-support" = ["support_agent"]
"##
        .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_file_parses_to_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), ServerConfig::initial_file()).unwrap();
        let loaded = ServerConfig::load(dir.path(), None).unwrap();
        let expected = ServerConfig::default().resolved(dir.path()).unwrap();
        assert_eq!(loaded, expected);
        assert!(loaded.database_url.starts_with("sqlite:///"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE), "listn = \"x\"\n").unwrap();
        let err = ServerConfig::load(dir.path(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("listn"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CONFIG_FILE);
        std::fs::write(
            &file,
            "[http]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n",
        )
        .unwrap();
        let c = ServerConfig::load(dir.path(), None).unwrap();
        let shown: Vec<String> = c
            .http
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        std::fs::write(&file, "[http]\ntrusted_proxies = [\"proxy.local\"]\n").unwrap();
        let err = ServerConfig::load(dir.path(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`proxy.local` is neither an address"), "{err}");
        std::fs::write(&file, "[ingest]\nnetwork_prefix_v4 = 33\n").unwrap();
        let err = ServerConfig::load(dir.path(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("network_prefix_v4 is at most 32"), "{err}");
    }

    #[test]
    fn an_s3_section_replaces_the_local_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            "[blob]\nkind = \"s3\"\nbucket = \"b\"\naccess_key_id = \"k\"\nsecret_access_key = \"s\"\n",
        )
        .unwrap();
        let cfg = ServerConfig::load(dir.path(), None).unwrap();
        assert!(matches!(cfg.blob, BlobConfig::S3 { ref region, .. } if region == "us-east-1"));
        assert_eq!(cfg.products, ["wizard"]);
    }

    #[test]
    fn bad_product_names_are_refused() {
        let cfg = ServerConfig {
            products: vec!["Wizard App".into()],
            ..ServerConfig::default()
        };
        let err = cfg.resolved(Path::new("/tmp")).unwrap_err().to_string();
        assert!(err.contains("a-z"), "{err}");
    }
}
