//! The `[support]` section: the support desk's SLAs (R-CR-6), its working hours, and the
//! limits on what customers' mail may bring.

use chrono::{Duration, NaiveTime};
use relops_core::calendar::BusinessCalendar;
use relops_core::sla::{Coverage, SlaClock, Target, WorkingHours};
use serde::{Deserialize, Serialize};

/// `[support]`. Defaults are the playbook's: first response within 4 h (Critical, around
/// the clock), 8 h (High) and 24 h (Normal) of working hours, 09:00–17:00 Europe/Berlin on
/// the `[calendar]`'s business days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupportConfig {
    /// Hours to the first response, per priority.
    pub critical_hours: u32,
    pub high_hours: u32,
    pub normal_hours: u32,
    /// Critical tickets' clock runs around the clock (the others' in working hours).
    pub critical_around_the_clock: bool,
    /// Working hours, `HH:MM`, wall-clock in `time_zone`.
    pub working_hours_start: String,
    pub working_hours_end: String,
    /// An IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// A customer's reply to a ticket closed longer ago than this opens a follow-up ticket
    /// instead of reopening it.
    pub reopen_days: u32,
    /// Largest customer message taken, attachments included (bytes); larger mail is
    /// refused with a bounce reason and nothing is stored.
    pub max_message_bytes: u64,
    /// The desk's sender, `Name <address>`: customers' replies come back here.
    pub from: String,
    /// The SMTP server that sends mail to customers: `smtp://host:port` (plain, for a local
    /// relay), `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://user:pass@host`.
    /// Without one, replies are recorded on the ticket but not mailed.
    pub smtp_url: Option<String>,
    /// The address customers reach this server at, e.g. `https://relops.example`: the
    /// confirmation link in a solution's mail and the unsubscribe link of a mail-out point
    /// here (default: `[ingest] public_url`). Without either, solutions ask the customer to
    /// reply instead, and mail-outs are refused.
    pub public_url: Option<String>,
    /// Mail-out messages handed to the SMTP server per minute (a major incident may reach
    /// thousands of customers; relays and providers throttle bursts).
    pub mailout_per_minute: u32,
    /// Tickets the app may open per hour (all installs together) through its public DSN
    /// key, and per install per day: the key is public, so these bound what anyone can file.
    pub app_tickets_per_hour: u32,
    pub app_tickets_per_install_per_day: u32,
    /// Closed tickets lose their customer data this many days after closing (0: kept).
    pub retain_closed_days: u32,
    /// The Git repository the knowledge base's revisions are committed to (relative to the
    /// data directory).
    pub kb_repository: std::path::PathBuf,
    /// Zendesk, the playbook's intake: its webhook and the API for notes back.
    pub zendesk: Option<ZendeskConfig>,
    /// Jira, for `relops ticket escalate --tracker jira`.
    pub jira: Option<JiraConfig>,
    /// GitHub, for `relops ticket escalate --tracker github`.
    pub github: Option<GithubConfig>,
}

/// `[support.zendesk]`: the webhook's signing secret, and the account that posts relops'
/// analysis back as internal notes (API token authentication).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// The account, e.g. `https://wizard.zendesk.com`.
    pub url: String,
    /// The webhook's signing secret (Zendesk shows it on the webhook's page).
    pub signing_secret: String,
    /// The agent whose API token posts the notes.
    pub email: String,
    pub api_token: String,
}

/// `[support.jira]`: where escalated tickets become issues (REST API v2, basic auth with
/// an API token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// The site, e.g. `https://wizard.atlassian.net`.
    pub url: String,
    /// The project key, e.g. `WIZ`.
    pub project: String,
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    pub user: String,
    pub api_token: String,
}

fn default_issue_type() -> String {
    "Bug".into()
}

/// `[support.github]`: where escalated tickets become issues (REST API, a token that may
/// create issues in `repo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    #[serde(default = "default_github_api")]
    pub api_url: String,
    /// `owner/name`.
    pub repo: String,
    pub token: String,
}

fn default_github_api() -> String {
    "https://api.github.com".into()
}

impl Default for SupportConfig {
    fn default() -> Self {
        Self {
            critical_hours: 4,
            high_hours: 8,
            normal_hours: 24,
            critical_around_the_clock: true,
            working_hours_start: "09:00".into(),
            working_hours_end: "17:00".into(),
            time_zone: "Europe/Berlin".into(),
            reopen_days: 14,
            max_message_bytes: 25 * 1024 * 1024,
            from: "Support <support@example.com>".into(),
            smtp_url: None,
            public_url: None,
            mailout_per_minute: 120,
            app_tickets_per_hour: 60,
            app_tickets_per_install_per_day: 3,
            retain_closed_days: 0,
            kb_repository: "kb".into(),
            zendesk: None,
            jira: None,
            github: None,
        }
    }
}

impl SupportConfig {
    /// The SLA clock these settings describe, on `calendar`; an error names the bad key.
    pub fn clock(&self, calendar: BusinessCalendar) -> Result<SlaClock, String> {
        crate::services::customer_mail::check_config(self)?;
        if let Some(u) = &self.public_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(format!(
                "[support] public_url = {u:?} must start with https:// or http://"
            ));
        }
        if self.mailout_per_minute == 0 {
            return Err("[support] mailout_per_minute must be at least 1".into());
        }
        let time = |key: &str, v: &str| {
            NaiveTime::parse_from_str(v, "%H:%M")
                .map_err(|_| format!("[support] {key} = {v:?}: expected HH:MM, e.g. \"09:00\""))
        };
        let start = time("working_hours_start", &self.working_hours_start)?;
        let end = time("working_hours_end", &self.working_hours_end)?;
        if end <= start {
            return Err(format!(
                "[support] working hours {}–{} end before they start",
                self.working_hours_start, self.working_hours_end
            ));
        }
        let tz = self.time_zone.parse().map_err(|_| {
            format!(
                "[support] time_zone = {:?} is not an IANA time zone (e.g. \"Europe/Berlin\")",
                self.time_zone
            )
        })?;
        for (k, h) in [
            ("critical_hours", self.critical_hours),
            ("high_hours", self.high_hours),
            ("normal_hours", self.normal_hours),
        ] {
            if h == 0 || h > 24 * 30 {
                return Err(format!(
                    "[support] {k} = {h}: must be between 1 and 720 hours"
                ));
            }
        }
        let target = |h: u32, around: bool| Target {
            budget: Duration::hours(h.into()),
            coverage: if around {
                Coverage::AroundTheClock
            } else {
                Coverage::WorkingHours
            },
        };
        Ok(SlaClock {
            critical: target(self.critical_hours, self.critical_around_the_clock),
            high: target(self.high_hours, false),
            normal: target(self.normal_hours, false),
            hours: WorkingHours { start, end, tz },
            calendar,
        })
    }
}
