//! The command line: every command, its flags and its `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::env;

/// relops — release operations for desktop applications.
///
/// `relops serve` runs the server; every other command is a client of its HTTP API
/// (set RELOPS_URL and RELOPS_TOKEN, or pass --url and --token).
/// Exit codes: 0 ok, 1 refused or failed, 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "relops", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Server URL.
    #[arg(long, global = true, env = env::URL, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// API token (printed by `relops init`, or made by `relops token create`).
    #[arg(long, global = true, env = env::TOKEN, hide_env_values = true)]
    pub token: Option<String>,
    /// Product to act on; needed only when the server has several.
    #[arg(long, global = true, env = env::PRODUCT)]
    pub product: Option<String>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Trust this PEM CA certificate too (a server with a certificate from an internal CA).
    #[arg(long, global = true, env = env::CA_CERT)]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory: config file, signing keys and the first admin token.
    ///
    /// Keys and config that already exist are kept; running it twice is safe.
    Init(ServerArgs),
    /// Back up an embedded deployment (SQLite, local blobs, keys, config) into a new
    /// directory while the server runs: a consistent copy, every file listed with its
    /// SHA-256 in relops-backup.json. On the server's host. PostgreSQL and S3: see
    /// docs/backup.md.
    Backup {
        /// The directory to create (must not exist).
        dir: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Make a new data dir from a backup (checked file by file first); then start
    /// `relops serve --data-dir NEW`.
    Restore {
        /// The backup directory (`relops backup DIR`).
        dir: PathBuf,
        /// The new data dir (absent or empty).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Run the server (SQLite and local blobs in the data dir by default).
    ///
    /// Initialises the data dir first if it has no config yet, printing the admin token.
    Serve {
        #[command(flatten)]
        server: ServerArgs,
        /// Address to listen on, e.g. 127.0.0.1:8080 (overrides `listen` in the config).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key; overrides
        /// `tls_cert` in the config).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's PEM private key.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Releases: create, list, show, freeze, notes.
    #[command(subcommand)]
    Release(ReleaseCmd),
    /// Artifacts: upload, list, download, verify.
    #[command(subcommand)]
    Artifact(ArtifactCmd),
    /// Release gates: submit the reports real tools write; relops computes the verdict.
    #[command(subcommand)]
    Gate(GateCmd),
    /// Go/no-go (product owner): approve a release once every checklist item is signed and
    /// every gate passed; it enters the signed update feed (offered to installs once its
    /// rollout starts). `--no-go --reason` records a no-go. Emergency path for a critical
    /// hotfix (patch releases): `--waive ITEM… --reason`.
    Approve {
        /// The release, e.g. 2.1.0.
        version: String,
        /// Record a no-go decision instead (needs --reason).
        #[arg(long, requires = "reason", conflicts_with = "waive")]
        no_go: bool,
        /// Go although this checklist item is open (qa, security, ops, support); its gates
        /// are waived with it. Repeatable. Needs --reason; patch releases only.
        #[arg(long, requires = "reason")]
        waive: Vec<String>,
        /// Why (for --no-go or --waive): kept in the record and the audit trail.
        #[arg(long)]
        reason: Option<String>,
        /// Confirm, as the second person, the emergency go another product owner asked for
        /// with --waive (product_owner or oncall_devops; within a day of it).
        #[arg(long, conflicts_with_all = ["no_go", "waive", "reason"])]
        confirm: bool,
    },
    /// The readiness checklist: QA, Security, Ops, Support, Management, with owner roles.
    #[command(subcommand)]
    Checklist(ChecklistCmd),
    /// Staged rollout: pilot (internal channel + 5 % of stable, 48 h soak) -> 25 % -> 50 %
    /// -> 100 %; each step waits for the soak and a passing health gate; pause, resume,
    /// halt. The state rides in the signed feed.
    #[command(subcommand)]
    Rollout(RolloutCmd),
    /// Roll back: send installs of the withdrawn releases back to an earlier release (a
    /// signed directive in the feed; nothing is re-signed), open an incident whose
    /// post-mortem is due in 3 business days, and notify.
    Rollback {
        /// The release to go back to (default: the newest that reached 100 %).
        #[arg(long)]
        to: Option<String>,
        /// Why (goes into the feed directive, the incident and the notifications).
        #[arg(long, required_unless_present = "confirm")]
        reason: Option<String>,
        /// Confirm the waiting rollback as its second person: on-call DevOps and the Product
        /// Owner decide a rollback together (R-RB-2); the first files it, the other confirms.
        #[arg(long, conflicts_with_all = ["to", "reason", "next_fix", "force"])]
        confirm: bool,
        /// critical, high or low.
        #[arg(long, default_value = "critical")]
        severity: String,
        /// When the fix is planned, YYYY-MM-DD (named in the notifications).
        #[arg(long)]
        next_fix: Option<String>,
        /// Roll back even though the target lacks an artifact for a platform the withdrawn
        /// release has (its installs there then stay on the withdrawn release), or cannot
        /// read the data schema the withdrawn release's down-migrations reach (its users'
        /// newer project files will not open). Audited with the facts accepted.
        #[arg(long)]
        force: bool,
    },
    /// Crash and telemetry ingest: the DSN that apps report to.
    #[command(subcommand)]
    Ingest(IngestCmd),
    /// Release health: the gate's verdict (sequential test on crashed ÷ active installs in
    /// 24 h: unknown, undecided, passing, failing), the crash rate with its Wilson interval
    /// per channel and platform, sessions by status, error codes, memory warnings.
    Health {
        /// The release, e.g. 2.1.0.
        version: String,
    },
    /// Crash reports: list them, show one with its stack, open its dump (sealed on the
    /// client; only QA, support and security roles may open dumps, and every opening is
    /// audited); crash groups per release, new and regressed.
    #[command(subcommand)]
    Crash(CrashCmd),
    /// Symbol files that turn crash dumps into function names, files and lines: upload
    /// Breakpad `.sym` files or the native debug files (ELF with DWARF, PDB, dSYM), which
    /// are converted with dump_syms first.
    #[command(subcommand)]
    Symbols(SymbolsCmd),
    /// Alerts fired by the health rules (crash rate, critical failures, error codes,
    /// memory): one per episode, with the evidence and what relops did.
    #[command(subcommand)]
    Alert(AlertCmd),
    /// Drive a running server with a fleet of virtual installs: they check for updates
    /// through the relops SDK (verifying the signed feed), report sessions and crashes
    /// through the ingest API, and follow rollbacks; the simulator advances the rollout when
    /// the health gate allows and, as on-call, decides rollback when a rollout is halted.
    /// Needs a token with release_manager and oncall_devops (or product_owner) roles, an
    /// approved RELEASE, and a released earlier version the fleet starts on.
    Simulate(SimulateArgs),
    /// Notifications: the outbox of messages to Slack, PagerDuty and webhooks.
    #[command(subcommand)]
    Notify(NotifyCmd),
    /// Incidents opened by rollbacks and alerts: decide them (on-call DevOps or Product
    /// Owner: rollback, hotfix, next patch) and file the post-mortem (due in 3 business days).
    #[command(subcommand)]
    Incident(IncidentCmd),
    /// The support desk: tickets with their SLA (first response due within 4/8/24 h by
    /// priority), timeline, linked crashes and release, and the close rule (cause or
    /// workaround documented and the customer confirmed).
    #[command(subcommand)]
    Ticket(TicketCmd),
    /// Support beyond one ticket: major-incident mail-outs, the incident-mail subscribers,
    /// erasing a customer's personal data.
    #[command(subcommand)]
    Support(SupportCmd),
    /// The knowledge base: FAQ articles and known issues (Markdown, drafts and published,
    /// every revision kept and committed to Git), and search over it and the tickets.
    #[command(subcommand)]
    Kb(KbCmd),
    /// The signed update feed (TUF): export it as static files, verify it as a client would.
    #[command(subcommand)]
    Feed(FeedCmd),
    /// The audit trail: verify the hash chain, export entries.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Retention (playbook §6): what each class of stored data keeps, which releases are
    /// never pruned (the last 3: rollback stock), and removing what expired.
    #[command(subcommand)]
    Retention(RetentionCmd),
    /// Signing keys: ids, roles, thresholds and expiry; what expires when; renew the root.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Platform signing certificates (Apple Developer ID, Windows EV) whose expiry relops
    /// watches.
    #[command(subcommand)]
    Certs(CertsCmd),
    /// Pilot users (playbook §1.4): invite an organisation's installs with a code, see who
    /// is enrolled and whether the pilot stage has enough of them, take one out.
    #[command(subcommand)]
    Pilot(PilotCmd),
    /// Review cycles (playbook §6): the permission matrix and knowledge-base articles every
    /// half year, a retrospective after every release at 100 % — what is open, and closing
    /// one with a note.
    #[command(subcommand)]
    Review(ReviewCmd),
    /// An app's log files, as the SDK writes them (docs/sdk.md): check an audit log; list
    /// and open the log bundles apps attached to crashes and tickets.
    #[command(subcommand)]
    Logs(LogsCmd),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Show who the current token belongs to and its roles.
    Whoami,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Data directory (database, blobs, keys, config).
    #[arg(long, env = env::DATA_DIR, default_value = "relops-data")]
    pub data_dir: PathBuf,
    /// Config file (default: DATA_DIR/relops.toml).
    #[arg(long, env = env::CONFIG)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCmd {
    /// Register a release: SemVer version, planned go-live; the freeze date follows.
    Create {
        /// MAJOR.MINOR.PATCH, e.g. 2.1.0.
        version: String,
        /// Planned go-live, YYYY-MM-DD. The feature freeze is 5 business days earlier.
        #[arg(long)]
        go_live: String,
        /// Git commit the release is built from.
        #[arg(long)]
        commit: Option<String>,
        /// Release branch; must be release/vMAJOR.MINOR.x of this version.
        #[arg(long)]
        branch: Option<String>,
        /// Release tag; must be v + the version.
        #[arg(long)]
        tag: Option<String>,
        /// The schema version of the data the app writes (project files, its database). A
        /// rollback to a release that cannot read it is refused unless --force (R-RB-7).
        #[arg(long, value_name = "N")]
        data_schema: Option<u32>,
        /// The oldest data schema the app's down-migrations reach (default: --data-schema,
        /// none). A rollback may go to any release reading this schema or newer.
        #[arg(long, value_name = "M", requires = "data_schema")]
        downgrades_to: Option<u32>,
        /// The security advisory this release fixes, e.g. CVE-2027-1234. Sparkle's appcast
        /// marks the release as a critical update (no "skip this version").
        #[arg(long, value_name = "ADVISORY")]
        security: Option<String>,
    },
    /// List releases, newest first.
    List,
    /// Show one release with its artifacts.
    Show {
        /// The release, e.g. 2.1.0.
        version: String,
    },
    /// Feature freeze: from now on artifacts change only as critical fixes.
    Freeze {
        /// The release, e.g. 2.1.0.
        version: String,
    },
    /// Upload the release notes (Markdown), or print them when no FILE is given. Published
    /// releases link to them from the update feed.
    Notes {
        /// The release, e.g. 2.1.0.
        version: String,
        /// The notes as Markdown; without it the stored notes are printed.
        file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ArtifactCmd {
    /// Upload a file; the server computes SHA-256 while it stores, and signs it.
    Upload {
        /// The release, e.g. 2.1.0.
        version: String,
        /// Target platform: macos-universal, macos-arm64, macos-x64, windows-x64,
        /// windows-arm64, linux-x64.
        #[arg(long)]
        platform: String,
        /// The file to upload.
        file: PathBuf,
        /// Store under this name instead of the file's own name.
        #[arg(long)]
        name: Option<String>,
        /// Expected SHA-256 (hex); the upload is refused and nothing stored on mismatch.
        #[arg(long)]
        sha256: Option<String>,
        /// Apple notarization id (macOS code-signing evidence).
        #[arg(long)]
        notarization_id: Option<String>,
        /// Authenticode signer subject (Windows code-signing evidence).
        #[arg(long)]
        authenticode_signer: Option<String>,
        /// The oldest operating system version the file runs on, e.g. 11.0 (macOS) or
        /// 10.0.17763 (Windows): Sparkle's appcast offers it only to systems at least that new.
        #[arg(long, value_name = "VERSION")]
        minimum_os: Option<String>,
        /// After the freeze: this change is a critical fix (release_manager only).
        #[arg(long, requires = "reason")]
        critical_fix: bool,
        /// Why the critical fix is needed (recorded in the audit trail).
        #[arg(long)]
        reason: Option<String>,
    },
    /// List the artifacts of a release.
    List {
        /// The release, e.g. 2.1.0.
        version: String,
    },
    /// Download an artifact (or the release's SHA256SUMS with `--sums`).
    Download {
        /// The release, e.g. 2.1.0.
        version: String,
        /// Artifact name; omit with --sums.
        #[arg(required_unless_present = "sums")]
        name: Option<String>,
        /// Download SHA256SUMS instead.
        #[arg(long, conflicts_with = "name")]
        sums: bool,
        /// Output file (default: the artifact's name in the current directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Replace the output file if it exists (by default an existing file is kept and
        /// the download refused).
        #[arg(long)]
        force: bool,
    },
    /// Re-read every stored artifact, recompute SHA-256 and check the release signature.
    Verify {
        /// The release, e.g. 2.1.0.
        version: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GateCmd {
    /// Line coverage from an lcov .info or Cobertura XML file; passes at >= 70 % (config).
    Coverage {
        /// The release, e.g. 2.1.0.
        version: String,
        /// The report: lcov `.info` or Cobertura XML.
        file: PathBuf,
    },
    /// JUnit XML from one or more test runs; passes when nothing failed or errored.
    Tests {
        /// The release, e.g. 2.1.0.
        version: String,
        /// JUnit XML files (one per run) whose kind is read from the content (a suite or
        /// class named *smoke* is UI smoke).
        files: Vec<PathBuf>,
        /// A unit test run's JUnit XML (repeatable).
        #[arg(long = "unit")]
        unit: Vec<PathBuf>,
        /// An integration test run's JUnit XML (repeatable).
        #[arg(long = "integration")]
        integration: Vec<PathBuf>,
        /// A UI smoke test run's JUnit XML (repeatable); the QA item needs one.
        #[arg(long = "ui-smoke")]
        ui_smoke: Vec<PathBuf>,
    },
    /// Linter findings as SARIF 2.1.0 (`cargo clippy --message-format=json | clippy-sarif`,
    /// `ruff check --output-format sarif`, ESLint's SARIF formatter); passes when no finding
    /// is at level error. One file per linter run.
    Lint {
        /// The release, e.g. 2.1.0.
        version: String,
        /// SARIF files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// CycloneDX JSON SBOM; every component's licence against the allow/deny policy.
    Sbom {
        /// The release, e.g. 2.1.0.
        version: String,
        /// The CycloneDX JSON SBOM.
        file: PathBuf,
    },
    /// A dependency scan — cargo-audit, OSV-Scanner or Grype JSON (fails at the configured
    /// severity) — or a secrets scan — detect-secrets baseline or gitleaks JSON (fails on
    /// any secret; a gitleaks report is kept redacted).
    Scan {
        /// The release, e.g. 2.1.0.
        version: String,
        /// The scanner's JSON report (its format is recognised from the content).
        file: PathBuf,
    },
    /// Show the gates of a release with their numbers and evidence.
    List {
        /// The release, e.g. 2.1.0.
        version: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChecklistCmd {
    /// Status, owner, feeding gates, evidence and sign-off of each item; what blocks go.
    Show {
        /// The release, e.g. 2.1.0.
        version: String,
    },
    /// Sign an item (only its owner role: qa → qa_lead, security → security_engineer,
    /// ops → oncall_devops, support → support_lead).
    Sign {
        /// The release, e.g. 2.1.0.
        version: String,
        /// qa, security, ops or support.
        item: String,
        /// A file kept as evidence (e.g. the monitoring dashboard export).
        #[arg(long)]
        evidence: Option<PathBuf>,
        /// A remark kept with the signature (what was checked, where).
        #[arg(long)]
        note: Option<String>,
        /// Support: this release changes nothing the FAQ says (instead of a published
        /// knowledge-base revision naming it); --note says why.
        #[arg(long, requires = "note")]
        no_faq_change: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RolloutCmd {
    /// Start the pilot stage of an approved release.
    Start {
        /// The release, e.g. 2.1.0.
        version: String,
    },
    /// Go to the next stage; refused before the stage's soak is over unless --force.
    Advance {
        /// The release, e.g. 2.1.0.
        version: String,
        /// Advance before the soak is over (needs --reason; audited).
        #[arg(long, requires = "reason")]
        force: bool,
        /// Why the soak or the health gate is overridden (audited; told to the channel).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Stop moving through the stages; the current percentage stays offered.
    Pause {
        /// The release, e.g. 2.1.0.
        version: String,
    },
    /// Continue a paused or halted rollout.
    Resume {
        /// The release, e.g. 2.1.0.
        version: String,
    },
    /// Stop offering the release to new installs (those that have it keep it); pages.
    Halt {
        /// The release, e.g. 2.1.0.
        version: String,
        /// What is wrong (goes to the release channel, the pager and the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Show state, stage, percentage, since when, and when the next step is allowed.
    Status {
        /// The release, e.g. 2.1.0.
        version: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum IngestCmd {
    /// Print the product's DSN: give it to the app's Sentry SDK (or the relops SDK). It is
    /// public by design: it can only report, not read.
    Dsn,
}

#[derive(Debug, Subcommand)]
pub enum NotifyCmd {
    /// Messages with their destination and delivery state, newest first.
    List {
        /// How many (default 50).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentCmd {
    /// Incidents, newest first, with status and post-mortem deadline (overdue flagged).
    List,
    /// One incident: evidence, decision, post-mortem.
    Show {
        /// The incident, e.g. INC-1.
        id: String,
    },
    /// Decide an open incident (on-call DevOps or Product Owner): `rollback` rolls back now,
    /// `hotfix` plans a fix within 24 h, `next-patch` defers it. Recorded with who, when
    /// and the evidence shown.
    Decide {
        /// The incident, e.g. INC-1.
        id: String,
        /// rollback (now), hotfix (within 24 h) or next-patch (deferred).
        #[arg(long, value_parser = ["rollback", "hotfix", "next-patch"])]
        action: String,
        /// Why; goes into the record and the notifications.
        #[arg(long)]
        note: Option<String>,
        /// For --action rollback: the release to go back to.
        #[arg(long)]
        to: Option<String>,
        /// For --action rollback: even if the target lacks a platform's artifact.
        #[arg(long)]
        force: bool,
    },
    /// File the post-mortem (a Markdown file); it closes the incident. Due 3 business days
    /// after the incident opened.
    Postmortem {
        /// The incident, e.g. INC-1.
        id: String,
        /// The post-mortem as Markdown (cause, impact, what changes).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SupportCmd {
    /// Erase a customer's personal data (support lead): their tickets keep ids, priorities,
    /// statuses and times, but lose address, name, subject, messages, attachments and
    /// unsent mail. Audited; the audit trail holds no customer data and stays verifiable.
    Erase {
        /// The customer's e-mail address.
        #[arg(long)]
        customer: String,
    },
    /// Mail a major incident's news to every customer with a ticket on the incident's
    /// release (or linked to it) and every subscriber (support lead). Each mail carries an
    /// unsubscribe link; opted-out addresses are left out. Sent through the outbox at
    /// `[support] mailout_per_minute`; a progress bar follows it (Ctrl-C stops watching,
    /// not sending). Running it again with the same subject reaches only those it has not
    /// reached yet; an update needs a subject of its own.
    Mailout {
        /// The incident, e.g. INC-3.
        #[arg(long)]
        incident: String,
        /// Default: "<product> <release>: <incident summary>".
        #[arg(long)]
        subject: Option<String>,
        /// The message, a plain-text file …
        #[arg(long, conflicts_with = "text", required_unless_present = "text")]
        message: Option<PathBuf>,
        /// … or given here.
        #[arg(long)]
        text: Option<String>,
        /// Only say whom it would reach; nothing is sent.
        #[arg(long)]
        dry_run: bool,
        /// Queue the mail and return without watching it go out.
        #[arg(long)]
        no_wait: bool,
    },
    /// How far a mail-out is: queued, sent, failing.
    MailoutStatus {
        /// The mail-out, e.g. INC-3.1.
        id: String,
    },
    /// Record a customer's opt-in to the product's incident mail, with how they agreed.
    Subscribe {
        /// The customer's e-mail address.
        email: String,
        /// How they opted in, e.g. "asked in WIZ-12".
        #[arg(long)]
        consent: String,
        /// The customer's name (kept with the subscription).
        #[arg(long)]
        name: Option<String>,
    },
    /// The product's incident-mail subscribers and the addresses that opted out.
    Subscribers,
    /// Add or change a priority rule (support lead): a new ticket whose subject or text
    /// holds the phrase gets the priority. Data loss and an app that does not start stay
    /// critical whatever the rules say; a request more urgent than the rule stands.
    Rule {
        /// Compared in lower case, e.g. "lizenz abgelaufen".
        #[arg(long)]
        phrase: String,
        /// critical, high or normal.
        #[arg(long)]
        priority: String,
    },
    /// Remove a priority rule (support lead).
    RuleRemove {
        /// The rule's phrase.
        #[arg(long)]
        phrase: String,
    },
    /// The priority rules.
    Rules,
}

#[derive(Debug, Subcommand)]
pub enum KbCmd {
    /// Write an article from a Markdown file: a draft, or published with --publish (support
    /// lead). An article naming a release, published after its freeze, is the FAQ update
    /// the checklist's Support item needs.
    Add {
        /// The article's title.
        #[arg(long)]
        title: String,
        /// The article, Markdown.
        file: PathBuf,
        /// The release it is about, e.g. 2.1.0.
        #[arg(long)]
        release: Option<String>,
        /// Publish it at once (support lead; it appears on the public FAQ).
        #[arg(long)]
        publish: bool,
        /// A known issue rather than an FAQ article.
        #[arg(long)]
        known_issue: bool,
        /// Known issues: the crash fingerprint it explains (a critical rule's name, an error code).
        #[arg(long, requires = "known_issue")]
        fingerprint: Option<String>,
    },
    /// A new revision: new text, title or release, published, or a known issue fixed.
    Edit {
        /// The article, e.g. FAQ-3 or KI-2.
        id: String,
        /// The new text, Markdown.
        file: Option<PathBuf>,
        /// A new title.
        #[arg(long)]
        title: Option<String>,
        /// The release it is about.
        #[arg(long)]
        release: Option<String>,
        /// Known issues: the release that fixes it.
        #[arg(long)]
        fixed_in: Option<String>,
        /// Publish this revision (support lead).
        #[arg(long)]
        publish: bool,
    },
    /// One article with its revisions.
    Show {
        /// The article, e.g. FAQ-3.
        id: String,
    },
    /// The articles, newest change first (drafts for those who write them).
    List,
    /// Search the knowledge base and, for those who may read them, the tickets; best first.
    Search {
        /// Words to look for (German or English).
        query: String,
        /// How many hits.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum TicketCmd {
    /// Open a ticket for a customer. Data loss, an app that does not start, or a crash of
    /// an open critical-failure alert make it critical whatever --priority says.
    Open {
        /// What it is about.
        #[arg(long)]
        subject: String,
        /// The customer's e-mail address.
        #[arg(long)]
        customer: String,
        /// The customer's name.
        #[arg(long)]
        name: Option<String>,
        /// critical (4 h around the clock), high (8 working hours) or normal (24).
        #[arg(long, value_parser = ["critical", "high", "normal"])]
        priority: Option<String>,
        /// What the customer wrote.
        #[arg(long)]
        body: Option<String>,
        /// The release the customer runs, e.g. 2.1.0.
        #[arg(long)]
        release: Option<String>,
        /// The customer's platform, e.g. windows-x64.
        #[arg(long)]
        platform: Option<String>,
        /// The install's id.
        #[arg(long)]
        install: Option<String>,
        /// A crash report id to link (repeat for several).
        #[arg(long = "crash")]
        crashes: Vec<String>,
    },
    /// The queue: open tickets, the first response due soonest first.
    List {
        /// Only these statuses (comma-separated: new, open, waiting_on_customer, escalated,
        /// solved, closed). Default: every status but closed.
        #[arg(long)]
        status: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One ticket: SLA, customer, release, crashes, timeline, what closing still needs.
    Show {
        /// The ticket, e.g. WIZ-12.
        id: String,
    },
    /// Reply to the customer (the first reply is the SLA's first response).
    Reply {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// The reply.
        #[arg(long)]
        body: String,
        /// Then wait on the customer (the SLA clock stands until they answer).
        #[arg(long)]
        wait: bool,
    },
    /// Add an internal note (the customer does not see it).
    Note {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// The note.
        #[arg(long)]
        body: String,
    },
    /// Assign the ticket to someone (support lead).
    Assign {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// Who works it; leave out to unassign.
        #[arg(long)]
        to: Option<String>,
    },
    /// Set the priority, with the reason (support lead; audited).
    Priority {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// critical, high or normal.
        #[arg(value_parser = ["critical", "high", "normal"])]
        priority: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Link crash reports, an incident or a known issue.
    Link {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// A crash report id (repeat for several).
        #[arg(long = "crash")]
        crashes: Vec<String>,
        /// An incident, e.g. INC-3.
        #[arg(long)]
        incident: Option<String>,
        /// A known issue's id.
        #[arg(long)]
        known_issue: Option<String>,
    },
    /// Solve: document the cause or workaround (or link a known issue). Closing then needs
    /// the customer's confirmation.
    Solve {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// The cause or workaround.
        #[arg(long)]
        resolution: Option<String>,
        /// A known issue documenting cause and workaround.
        #[arg(long)]
        known_issue: Option<String>,
    },
    /// Record the customer's confirmation given outside relops, by phone say (support lead).
    Confirm {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// How and when the customer confirmed.
        #[arg(long)]
        note: String,
    },
    /// Close a solved ticket; refused (exit 1) naming what is missing: the documented cause
    /// or workaround, the customer's confirmation.
    Close {
        /// The ticket, e.g. WIZ-12.
        id: String,
    },
    /// Escalate a reproducible bug to engineering: an issue labelled production-incident in
    /// Jira or GitHub ([support.jira] / [support.github]), created through the outbox and
    /// linked to the ticket when the tracker answers.
    Escalate {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// jira or github.
        #[arg(long, value_parser = ["jira", "github"])]
        tracker: String,
        /// What engineering needs to know (steps to reproduce).
        #[arg(long)]
        note: Option<String>,
    },
    /// Take one customer mail from stdin (the pipe an MTA calls; see docs/support.md for
    /// Postfix): opens a ticket or threads it into one, and prints the ticket's id. Exit 0
    /// when taken (or ignored as an auto-reply), 1 when refused (the MTA bounces with the
    /// reason), 75 when relops cannot take it now (the MTA keeps it and retries).
    MailIn,
    /// Write a file the customer attached (a log bundle, a screenshot) — stored sealed to
    /// the crash key, opened only for roles that may read crash dumps; each opening is
    /// audited. `relops ticket show` lists a ticket's attachments with their sha256.
    Attachment {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// The attachment's SHA-256 (as `ticket show` lists it).
        sha256: String,
        /// Where to write it (default: the attachment's name, in the current directory).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Reopen a solved or closed ticket.
    Reopen {
        /// The ticket, e.g. WIZ-12.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CrashCmd {
    /// Crash reports, newest first, with where each crashed once processed.
    List {
        /// Only this release's (the same as --release).
        version: Option<String>,
        /// Only this release's.
        #[arg(long, conflicts_with = "version")]
        release: Option<String>,
        /// How many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One crash report; with --decrypt, its dump opened with the server's crash key.
    Show {
        /// The crash report id (from `relops crash list`).
        id: String,
        /// Fetch the dump, opened (needs a role that holds crash.dump; audited).
        #[arg(long)]
        decrypt: bool,
        /// Where to write the dump (default: crash-ID.dmp in the current directory).
        #[arg(long, requires = "decrypt")]
        output: Option<PathBuf>,
    },
    /// A file sent with a crash (a log, a screenshot), opened with the server's crash key
    /// (needs a role that holds crash.dump; audited).
    Attachment {
        /// The crash report id.
        id: String,
        /// Which file, from 0 (`relops crash show` lists them).
        n: usize,
        /// Where to write it (default: its own name, or attachment-N, in the current
        /// directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// A release's crash groups (crashes with the same top frames), most crashes first:
    /// which are new in this release and which came back after a fix.
    Groups {
        /// The release, e.g. 2.1.0.
        version: String,
    },
    /// One crash group: its figures per release, its stack and newest crashes.
    Group {
        /// The group id (from `relops crash groups`).
        id: String,
    },
    /// Mark the release that fixes a crash group: crashes of it in that release or later
    /// show the group as regressed.
    Fixed {
        /// The group id.
        id: String,
        /// The release that fixes it, e.g. 2.1.1.
        #[arg(required_unless_present = "clear")]
        version: Option<String>,
        /// Remove the mark instead.
        #[arg(long, conflicts_with = "version")]
        clear: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SymbolsCmd {
    /// Upload symbol files: Breakpad `.sym` files as they are, native debug files (an ELF
    /// binary with DWARF, a PDB, a dSYM's DWARF file) converted with dump_syms. Crashes
    /// that lacked them are processed again.
    Upload {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The release the files belong to (listed with it).
        #[arg(long)]
        release: Option<String>,
    },
    /// Convert a native debug file into a Breakpad `.sym` file without uploading it (what
    /// `upload` sends), e.g. for a local symbol store.
    Convert {
        /// The debug file: an ELF binary with DWARF, a PDB, a dSYM's DWARF file.
        file: PathBuf,
        /// Where to write the `.sym` file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Symbol files stored, newest first.
    List {
        /// Only this release's.
        #[arg(long)]
        release: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertCmd {
    /// Open alerts (firing or acknowledged), newest first.
    List {
        /// Include resolved alerts.
        #[arg(long)]
        all: bool,
    },
    /// One alert with its evidence, actions and follow-up item.
    Show {
        /// The alert, e.g. ALR-1.
        id: String,
    },
    /// Acknowledge a firing alert (the episode goes on until its condition clears).
    Ack {
        /// The alert, e.g. ALR-1.
        id: String,
        /// Who is on it and what they do (kept with the acknowledgement).
        #[arg(long)]
        note: Option<String>,
    },
    /// Escalate a critical failure support confirmed (data loss, crash on start or on
    /// project open): like the critical-failure rule, it rolls VERSION back at once, pages
    /// on-call and opens an incident. Support lead, on-call DevOps, Product Owner.
    Escalate {
        /// The release, e.g. 2.1.0.
        version: String,
        /// What happened to the customer.
        #[arg(long)]
        reason: String,
        /// The support ticket.
        #[arg(long)]
        ticket: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Virtual installs in the fleet.
    #[arg(long, default_value_t = 10_000)]
    pub installs: u32,
    /// The release to roll out (approved; its rollout is started if it was not).
    #[arg(long)]
    pub release: String,
    /// Fraction of installs that crash on RELEASE (0.05 = 5 %).
    #[arg(long)]
    pub crash_rate: f64,
    /// Fraction of installs that crash on the releases before it.
    #[arg(long, default_value_t = 0.005)]
    pub baseline_crash_rate: f64,
    /// Stop after this long (e.g. 90s, 10m) even if the rollout has not finished.
    #[arg(long, default_value = "10m")]
    pub duration: String,
    /// Stop after this many rounds (each: every install checks, runs a session, reports).
    #[arg(long, default_value_t = 50)]
    pub rounds: u32,
    /// Seed of the fleet's install ids and crash fates (same seed, same fleet).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// When the rollout is halted with an incident open: decide `rollback` (as on-call
    /// would) or `none` (leave it halted).
    #[arg(long, default_value = "rollback", value_parser = ["rollback", "none"])]
    pub on_halt: String,
    /// The second decider of that rollback (R-RB-2): a token of the Product Owner when
    /// the simulator's token is on-call's. Without it the rollback stays filed, awaiting
    /// confirmation, and the simulation ends with the release halted.
    #[arg(long, env = "RELOPS_CONFIRM_TOKEN")]
    pub confirm_token: Option<String>,
    /// Pause between rounds, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub pause_ms: u64,
    /// Trusted root metadata for the fleet's SDKs. Default: the server's 1.root.json
    /// (trust on first use — fine for a simulation, not for an app).
    #[arg(long)]
    pub root: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum FeedCmd {
    /// Write the product's feed as static files (DIR/metadata, DIR/targets, DIR/notes) that
    /// nginx or a CDN serves unchanged, and the feeds of other updaters (Sparkle's appcast,
    /// electron-updater's latest.yml, Velopack's releases.CHANNEL.json) with their files in
    /// DIR/feeds/CHANNEL. Re-exporting into the same DIR updates it; timestamp.json is
    /// written last, so readers never see a half-written set.
    Export {
        /// The directory to write metadata/ and targets/ into (made if missing).
        dir: PathBuf,
    },
    /// Refresh and verify a feed the way a TUF client does (with the `tough` client), and
    /// download and check every target.
    Verify {
        /// The relops server URL (default: --url), a repository URL ending in
        /// /tuf/PRODUCT, or an exported directory.
        source: Option<String>,
        /// Trusted root metadata to start from. Default: the source's 1.root.json, which
        /// only checks consistency — pin the root your app ships with.
        #[arg(long)]
        root: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogsCmd {
    /// Check the hash chain of an app's audit log files (`{app}_audit.YYYY-MM-DD.log`, as
    /// the SDK writes them; several files are checked as one chain, in date order) and name
    /// the first edited, inserted or removed line (exit 1). Works offline: no server.
    Verify {
        /// Audit log files, e.g. `wizard_audit.*.log`.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// The log bundles an app attached to a crash or to its own ticket (the SDK's
    /// `collect_logs`): id, size, days, install. Any role may list them.
    List {
        /// The crash's id (only bundles of the install that crashed are shown).
        #[arg(long, value_name = "ID")]
        crash: Option<String>,
        /// The ticket's id, e.g. WIZ-17.
        #[arg(long, value_name = "ID")]
        ticket: Option<String>,
    },
    /// Open a log bundle: write its tar.gz (the app and error logs of the days it covers,
    /// redacted by the app) to a file. Needs the crash-dump permission; every opening is an
    /// audit entry.
    Get {
        /// The bundle's id (`relops logs list`, `relops crash show`, `relops ticket show`).
        id: String,
        /// Where to write it (default: `logs-ID.tar.gz`).
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// What a retention run would remove and why — per class its rule, the pinned releases,
    /// each item; removes nothing. The server also runs retention once a day
    /// (`[retention] daily`).
    Plan {
        /// Plan for a later date (`YYYY-MM-DD` or RFC 3339) to see what will go by then.
        #[arg(long)]
        at: Option<String>,
    },
    /// Remove what the `[retention]` rules say has expired, now (admin or security
    /// engineer; every removal audited). The audit trail is pruned too for a security
    /// engineer (audit.manage).
    Apply,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Recompute the hash chain and check it against its signed checkpoints and the
    /// server's anchor file ([audit] anchor_file); name the first edited, deleted or
    /// reordered entry (exit 1).
    Verify {
        /// Also check against checkpoints kept outside relops (what `relops audit anchor`
        /// printed, one JSON line each): a chain rewritten with database access — truncated
        /// and its head reset, re-hashed, deleted — no longer holds them.
        #[arg(long, value_name = "FILE")]
        since_anchor: Option<PathBuf>,
    },
    /// Sign the chain head now and print it as one JSON line to keep outside relops (a
    /// ticket, a repository, a mail): `relops audit verify --since-anchor FILE` checks that
    /// the chain still holds it.
    Anchor,
    /// Write the entries as JSON lines (to stdout, or -o FILE).
    Export {
        /// Only entries at or after this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Sign a checkpoint of the chain head now (the server also does it periodically).
    Checkpoint,
    /// Delete entries older than the retention (180 days by default) or --before DATE,
    /// keeping a signed checkpoint so that the rest still verifies (security_engineer).
    Prune {
        /// Delete entries before this date (YYYY-MM-DD) instead of the retention's cut.
        #[arg(long)]
        before: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// List the feed's TUF role keys and the release key.
    List,
    /// Everything that expires, the soonest first: each product's feed roles (root is
    /// renewed by hand, the others re-signed by the server), the release and crash keys,
    /// the TLS certificate and the registered signing certificates — with days left and
    /// what renews each. Warnings go out at 60, 30 and 7 days (paging from 7).
    Status,
    /// Sign a new root version with the same keys and a new expiry (`[feed]
    /// root_expiry_days` from now), before the root expires and every installed app refuses
    /// the feed (security_engineer; the root keys' threshold must be on the server).
    Renew {
        /// What to renew: `root`.
        what: String,
    },
    /// Replace the key of a TUF role (security_engineer only). A new root version lists
    /// the new key — signed by the old and the new root key when rotating root — and the
    /// feed is re-signed. Installed apps follow on their next check.
    Rotate {
        /// root, targets, snapshot or timestamp.
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReviewCmd {
    /// Open reviews (the soonest due first, overdue marked), then the ones done.
    List,
    /// Close a review with what it found (its owner: security_engineer for `permissions`,
    /// support_lead for `kb:ID`, release_manager for `retro:VERSION`), or with the
    /// knowledge-base revision that carries the change (e.g. the playbook's); audited.
    Done {
        /// `permissions`, `kb:FAQ-1`, `retro:2.1.0`.
        subject: String,
        /// What the review found or changed; may be left out with --revision.
        #[arg(long, required_unless_present = "revision")]
        note: Option<String>,
        /// The revision that carries the change, ARTICLE@N, e.g. FAQ-3@4 (`relops kb show
        /// FAQ-3` lists its revisions).
        #[arg(long, value_parser = parse_kb_revision)]
        revision: Option<relops_api::KbRevisionRef>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PilotCmd {
    /// Make an invitation code for one organisation (release manager). The code is shown
    /// once; its users enter it in the app ("join the pilot"), which then gets pilot
    /// releases on the internal channel.
    Invite {
        /// Whose installs redeem it, e.g. "Example GmbH".
        #[arg(long = "org")]
        organisation: String,
        /// Installs that may enrol with it.
        #[arg(long, default_value_t = 50)]
        max_installs: u32,
        /// Days it can be redeemed.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Enrolled installs (what each ran last), the invitations, and whether the release in
    /// its pilot stage runs on enough enrolled installs for the health gate to decide.
    List,
    /// Take an install out of the pilot (release manager); audited.
    Remove {
        /// The install's id (`relops pilot list`).
        install_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CertsCmd {
    /// Register a platform signing certificate so that its expiry is watched
    /// (security_engineer): the Apple Developer ID or Windows EV code-signing certificate,
    /// PEM or DER (the certificate only, no private key). Audited.
    Add {
        /// apple-developer-id or windows-ev.
        #[arg(long)]
        kind: String,
        /// The certificate file (.pem, .cer, .crt).
        file: PathBuf,
    },
    /// The registered certificates: subject, issuer, expiry.
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Make a token (admin only). The secret is printed once.
    Create {
        /// Role(s) of the token: release_manager, qa_lead, security_engineer,
        /// support_lead, support_agent, product_owner, oncall_devops, admin.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// A name that says who or what uses it, e.g. ci-release or alice.
        #[arg(long, default_value = "unnamed")]
        name: String,
        /// Print only the token itself, for scripts:
        /// `export QUINN_TOKEN=$(relops token create --role qa_lead --name quinn --quiet)`.
        /// That it awaits a second person's confirmation is said on standard error.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Confirm, as the second person, a token holding admin, product_owner or
    /// security_engineer (another admin, or a security engineer). With --data-dir, on the
    /// server's host, as its operator: how the first such token is confirmed.
    Confirm {
        /// The token's id (`tok_…` in the audit trail, printed by `token create`), or its
        /// name when exactly one token of that name awaits confirmation.
        id: String,
        #[command(flatten)]
        local: LocalArgs,
    },
    /// List the tokens that work or await confirmation (admin): id, name, roles, who made
    /// and confirmed them. Secrets are never shown again.
    List,
    /// Revoke a token (admin): it stops working at once, and so do the console sessions
    /// made with it. Audited. The last admin token cannot be revoked.
    Revoke {
        /// The token's id (`relops token list`).
        id: String,
    },
}

/// The data dir of a server on this host, for what its operator does without a token.
#[derive(Debug, clap::Args)]
pub struct LocalArgs {
    /// Act on the server's data dir directly (the operator on the server's host).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Its config file (default: DATA_DIR/relops.toml).
    #[arg(long, requires = "data_dir")]
    pub config: Option<PathBuf>,
}

impl Cli {
    pub fn is_server(&self) -> bool {
        matches!(self.command, Command::Serve { .. } | Command::Init(_))
    }
}

/// `FAQ-3@4` → article FAQ-3, revision 4.
fn parse_kb_revision(s: &str) -> Result<relops_api::KbRevisionRef, String> {
    let (article, n) = s
        .rsplit_once('@')
        .ok_or_else(|| format!("`{s}`: write ARTICLE@REVISION, e.g. FAQ-3@4"))?;
    let revision = n
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("`{n}` is not a revision number (1, 2, …)"))?;
    Ok(relops_api::KbRevisionRef {
        article: article.trim().to_owned(),
        revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command and every argument of it says what it is in `--help`: a bare
    /// `<VERSION>` or `--reason <REASON>` leaves a newcomer guessing.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                let blank = a.get_help().is_none_or(|h| h.to_string().trim().is_empty());
                // clap's own --help and --version say what they are.
                let builtin = ["help", "version"].contains(&id) && !a.is_positional();
                if blank && !builtin {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (the command)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "relops", &mut missing);
        assert!(missing.is_empty(), "no help text:\n{}", missing.join("\n"));
    }
}
