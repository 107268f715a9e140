//! The end-to-end harness: a real `relops serve` child process on 127.0.0.1, driven by the
//! real `relops` CLI binary and by plain HTTP.
//!
//! Every test runs once per backend: SQLite + local blobs (always) and PostgreSQL + S3
//! (when `.ci/run` has started them and exported `RELOPS_TEST_PG_URL` and
//! `RELOPS_TEST_S3_*`). Outside CI a missing service skips the PostgreSQL run with a
//! message; under CI (`CI` set) it fails, so the scale-out path can never silently go
//! untested.
#![allow(dead_code)]

pub mod outage;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use relops_store::{BlobConfig, BlobStore};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_relops");

/// Which storage a test server uses.
#[derive(Debug, Clone)]
pub enum Backend {
    SqliteLocal,
    PostgresS3 { pg_admin_url: String, s3: S3Env },
}

#[derive(Debug, Clone)]
pub struct S3Env {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl Backend {
    /// The PostgreSQL + S3 backend, if `.ci/run` provided it; `None` (with the reason on
    /// stderr) outside CI; a panic under CI.
    pub fn postgres_s3() -> Option<Backend> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let found = (|| {
            Some(Backend::PostgresS3 {
                pg_admin_url: var("RELOPS_TEST_PG_URL")?,
                s3: S3Env {
                    endpoint: var("RELOPS_TEST_S3_ENDPOINT")?,
                    bucket: var("RELOPS_TEST_S3_BUCKET")?,
                    access_key: var("RELOPS_TEST_S3_ACCESS_KEY")?,
                    secret_key: var("RELOPS_TEST_S3_SECRET_KEY")?,
                },
            })
        })();
        if found.is_none() {
            let why = "RELOPS_TEST_PG_URL / RELOPS_TEST_S3_* not set: run `.ci/run` to start PostgreSQL and the S3 server";
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL/S3 backend required under CI: {why}");
            }
            eprintln!("skipped: PostgreSQL + S3 variant: {why}");
        }
        found
    }
}

/// Generates one test per backend for each listed `async fn name(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::SqliteLocal).await
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(b) = $crate::common::Backend::postgres_s3() {
                        super::$name(b).await
                    }
                }
            )*
        }
    };
}

/// A data directory with a config for `backend`, initialised by `relops init`.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    pub admin_token: String,
    pub database_url: String,
    pub blob: BlobConfig,
    pg_db: Option<(String, String)>,
}

impl TestEnv {
    pub async fn new(backend: Backend) -> TestEnv {
        Self::with_config(backend, "").await
    }

    /// `extra` is appended to the top level of `relops.toml` (e.g. `max_artifact_bytes = 10`).
    pub async fn with_config(backend: Backend, extra: &str) -> TestEnv {
        Self::with_config_in(backend, extra, &std::env::temp_dir()).await
    }

    /// Like [`Self::with_config`], with the data dir made under `parent` (a small disk).
    pub async fn with_config_in(backend: Backend, extra: &str, parent: &Path) -> TestEnv {
        let dir = tempfile::tempdir_in(parent).unwrap();
        let (database_url, blob, pg_db) = match &backend {
            Backend::SqliteLocal => (
                format!("sqlite://{}/relops.db", dir.path().display()),
                BlobConfig::Local {
                    path: dir.path().join("blobs"),
                },
                None,
            ),
            Backend::PostgresS3 { pg_admin_url, s3 } => {
                let db = format!("relops_t_{}", uuid::Uuid::new_v4().simple());
                let mut admin = connect_pg(pg_admin_url).await;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let base = pg_admin_url.rsplit_once('/').unwrap().0;
                (
                    format!("{base}/{db}"),
                    BlobConfig::S3 {
                        bucket: s3.bucket.clone(),
                        endpoint: Some(s3.endpoint.clone()),
                        region: "us-east-1".into(),
                        access_key_id: s3.access_key.clone(),
                        secret_access_key: s3.secret_key.clone(),
                        prefix: Some(format!("t-{}", uuid::Uuid::new_v4().simple())),
                        allow_http: true,
                    },
                    Some((pg_admin_url.clone(), db)),
                )
            }
        };
        let blob_toml = toml_section("blob", &blob);
        std::fs::write(
            dir.path().join("relops.toml"),
            format!(
                "listen = \"127.0.0.1:0\"\ndatabase_url = \"{database_url}\"\n{extra}\n{blob_toml}"
            ),
        )
        .unwrap();
        let out = Command::new(BIN)
            .args(["init", "--json", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let admin_token = v["admin_token"].as_str().unwrap().to_owned();
        TestEnv {
            dir,
            backend,
            admin_token,
            database_url,
            blob,
            pg_db,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Starts `relops serve` on this data dir.
    pub fn serve(&self) -> Server {
        Server::start(self.path(), &self.admin_token)
    }

    /// Another replica of this deployment, serving: the same config (database, bucket) and
    /// keys in a data dir of its own (returned with it, removed when dropped).
    pub fn replica(&self) -> (tempfile::TempDir, Server) {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(self.path(), dir.path());
        let s = Server::start(dir.path(), &self.admin_token);
        (dir, s)
    }

    /// Runs SQL on the server's database directly (to tamper, or to move a date).
    pub async fn execute_sql(&self, sql: &[&str]) {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&self.database_url)
            .await
            .unwrap();
        for q in sql {
            sqlx::query(sqlx::AssertSqlSafe(q.to_string()))
                .execute(&mut c)
                .await
                .unwrap();
        }
        c.close().await.unwrap();
    }

    /// One number from the server's database (`sql` selects a single integer).
    pub async fn query_i64(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&self.database_url)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        n
    }

    /// The blob store the server uses, opened directly (to tamper or inspect).
    pub fn blobs(&self) -> BlobStore {
        BlobStore::open(&self.blob).unwrap()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some((admin, db)) = self.pg_db.take() {
            // Best effort: the server child is gone by now (Server drops first).
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let mut c = connect_pg(&admin).await;
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                });
            })
            .join();
        }
    }
}

async fn connect_pg(url: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url)
        .await
        .expect("connect to PostgreSQL")
}

fn toml_section(name: &str, blob: &BlobConfig) -> String {
    let mut s = format!("[{name}]\n");
    match blob {
        BlobConfig::Local { path } => {
            s += &format!("kind = \"local\"\npath = \"{}\"\n", path.display());
        }
        BlobConfig::S3 {
            bucket,
            endpoint,
            region,
            access_key_id,
            secret_access_key,
            prefix,
            allow_http,
        } => {
            s += &format!(
                "kind = \"s3\"\nbucket = \"{bucket}\"\nendpoint = \"{}\"\nregion = \"{region}\"\n\
                 access_key_id = \"{access_key_id}\"\nsecret_access_key = \"{secret_access_key}\"\n\
                 prefix = \"{}\"\nallow_http = {allow_http}\n",
                endpoint.as_deref().unwrap_or(""),
                prefix.as_deref().unwrap_or("")
            );
        }
    }
    s
}

/// A report fixture written by a real tool (`crates/relops-gates/tests/data/reports/`).
pub fn report(name: &str) -> String {
    format!(
        "{}/../relops-gates/tests/data/reports/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Copies the directory tree `from` into `to` (created if absent).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A running `relops serve` child; killed (SIGKILL) on drop.
pub struct Server {
    child: Child,
    pub url: String,
    pub token: String,
    data_dir: PathBuf,
    /// Tokens made for roles, by role name.
    role_tokens: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Server {
    pub fn start(data_dir: &Path, token: &str) -> Server {
        let mut command = Command::new(BIN);
        command.args(["serve", "--data-dir"]).arg(data_dir);
        Self::start_command(command, data_dir, token)
    }

    /// Starts `command`, which runs `relops serve` on `data_dir` (e.g. in a shell that sets
    /// a limit first).
    pub fn start_command(mut command: Command, data_dir: &Path, token: &str) -> Server {
        let mut child = command
            .env("RELOPS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("relops serve exited before it listened")
                .unwrap();
            if let Some(rest) = line.strip_prefix("relops listening on ") {
                break rest.trim().to_owned();
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = std::process::Command::new("curl")
                .args(["-sfk", &format!("{url}/healthz")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            child,
            url,
            token: token.to_owned(),
            data_dir: data_dir.to_path_buf(),
            role_tokens: Default::default(),
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs the CLI against this server with the admin token.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_as(&self.token, args)
    }

    pub fn cli_as(&self, token: &str, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("RELOPS_URL", &self.url)
            .env("RELOPS_TOKEN", token)
            .env_remove("RELOPS_PRODUCT")
            .output()
            .unwrap()
    }

    /// Runs the CLI and parses its `--json` output; panics unless it succeeded.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.cli(&a);
        assert!(
            out.status.success(),
            "relops {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// [`cli_json`](Self::cli_json) with another token.
    pub fn cli_json_as(&self, token: &str, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.cli_as(token, &a);
        assert!(
            out.status.success(),
            "relops {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Makes a token with `roles` through the CLI; returns the secret.
    /// A token holding admin, product_owner or security_engineer waits for a second
    /// person; the harness confirms it as the operator on the server's host (`relops token
    /// confirm ID --data-dir`), so tests get a working token of any role.
    pub fn token_with(&self, roles: &[&str]) -> String {
        // Each role's token is its own person (separation of duties compares names).
        let name = format!("test-{}", roles.join("+"));
        let mut args = vec!["token", "create", "--name", &name];
        for r in roles {
            args.extend(["--role", r]);
        }
        let created = self.cli_json(&args);
        if created["awaiting_confirmation"] == true {
            let id = created["id"].as_str().unwrap();
            let out = Command::new(BIN)
                .args(["token", "confirm", id, "--json", "--data-dir"])
                .arg(&self.data_dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "local confirmation failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        created["token"].as_str().unwrap().to_owned()
    }

    /// A token holding `role` (made once per server).
    pub fn as_role(&self, role: &str) -> String {
        let mut m = self.role_tokens.lock().unwrap();
        if let Some(t) = m.get(role) {
            return t.clone();
        }
        let t = self.token_with(&[role]);
        m.insert(role.to_owned(), t.clone());
        t
    }

    /// A person's rollback as the playbook has it (R-RB-2): on-call files it with `args`,
    /// the product owner confirms; the rollback's answer.
    pub fn roll_back(&self, args: &[&str]) -> serde_json::Value {
        let mut filed = vec!["rollback"];
        filed.extend_from_slice(args);
        let pending = self.cli_json_as(&self.as_role("oncall_devops"), &filed);
        assert!(
            pending["awaiting_confirmation"].is_object(),
            "filed, not done: {pending}"
        );
        self.cli_json_as(&self.as_role("product_owner"), &["rollback", "--confirm"])
    }

    /// Makes `version` ready for go: every gate fed with a passing report written by the
    /// real tool, release notes uploaded, and each checklist item signed by its owner.
    pub fn ready(&self, version: &str) {
        self.ready_except(version, &[]);
    }

    /// [`ready`](Self::ready), but leaves the checklist items `unsigned` open.
    pub fn ready_except(&self, version: &str, unsigned: &[&str]) {
        let r = report;
        if self.cli_json(&["release", "show", version])["state"] == "draft" {
            self.cli_json(&["release", "freeze", version]);
        }
        self.cli_json(&["gate", "coverage", version, &r("coverage-high.lcov.info")]);
        self.cli_json(&[
            "gate",
            "tests",
            version,
            &r("junit-pytest-pass.xml"),
            &r("junit-pytest-ui-smoke.xml"),
        ]);
        self.cli_json(&["gate", "lint", version, &r("lint-clippy-clean.sarif")]);
        self.cli_json(&["gate", "sbom", version, &r("sbom-python-env.cdx.json")]);
        self.cli_json(&["gate", "scan", version, &r("vulns-cargo-audit-clean.json")]);
        self.cli_json(&["gate", "scan", version, &r("secrets-clean.baseline.json")]);
        if self.cli_json(&["release", "show", version])["notes_sha256"].is_null() {
            let notes = self.data_dir.join(format!("notes-{version}.md"));
            std::fs::write(
                &notes,
                format!("# WIZARD {version}\n\nFixes and improvements.\n"),
            )
            .unwrap();
            self.cli_json(&["release", "notes", version, notes.to_str().unwrap()]);
        }
        // Support signs off the FAQ updated for the release.
        let faq = self.data_dir.join(format!("faq-{version}.md"));
        std::fs::write(&faq, format!("What changes in WIZARD {version}.\n")).unwrap();
        self.cli_json_as(
            &self.as_role("support_lead"),
            &[
                "kb",
                "add",
                "--title",
                &format!("WIZARD {version}"),
                faq.to_str().unwrap(),
                "--release",
                version,
                "--publish",
            ],
        );
        for (item, role) in [
            ("qa", "qa_lead"),
            ("security", "security_engineer"),
            ("ops", "oncall_devops"),
            ("support", "support_lead"),
        ] {
            if unsigned.contains(&item) {
                continue;
            }
            self.cli_json_as(&self.as_role(role), &["checklist", "sign", version, item]);
        }
    }

    /// Go: [`ready`](Self::ready), then approved by the product owner.
    pub fn approve(&self, version: &str) -> serde_json::Value {
        self.ready(version);
        self.cli_json_as(&self.as_role("product_owner"), &["approve", version])
    }

    /// Approves `version` and rolls it out to 100 % at once (forced past every soak), so
    /// that every install is offered it.
    pub fn ship(&self, version: &str) {
        self.approve(version);
        self.roll_out(version);
    }

    /// Creates `version` going live on `go_live` with one Windows installer of 4 KiB
    /// (`seed` varies its bytes).
    pub fn with_installer(&self, dir: &Path, version: &str, go_live: &str, seed: u8) {
        self.cli_json(&["release", "create", version, "--go-live", go_live]);
        self.upload(
            dir,
            version,
            "windows-x64",
            &format!("WIZARD-{version}.msi"),
            &test_bytes(4096, seed),
        );
    }

    /// Rolls an approved release out to 100 % at once (forced past every soak).
    pub fn roll_out(&self, version: &str) {
        self.cli_json(&["rollout", "start", version]);
        for _ in 0..3 {
            self.cli_json(&[
                "rollout",
                "advance",
                version,
                "--force",
                "--reason",
                "test: ship at once",
            ]);
        }
    }

    /// Writes `bytes` to `dir/name` and uploads it as an artifact of `version`.
    pub fn upload(
        &self,
        dir: &Path,
        version: &str,
        platform: &str,
        name: &str,
        bytes: &[u8],
    ) -> serde_json::Value {
        self.upload_with(dir, version, platform, name, bytes, &[])
    }

    /// [`upload`](Self::upload) with more arguments for `relops artifact upload`.
    pub fn upload_with(
        &self,
        dir: &Path,
        version: &str,
        platform: &str,
        name: &str,
        bytes: &[u8],
        extra: &[&str],
    ) -> serde_json::Value {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let mut args = vec![
            "artifact",
            "upload",
            version,
            "--platform",
            platform,
            path.to_str().unwrap(),
        ];
        // The platform signing evidence go needs (R-REL-6).
        if name.ends_with(".dmg") {
            args.extend(["--notarization-id", "2efe2717-0000-4000-8000-000000000001"]);
        } else if name.ends_with(".msi") || name.ends_with(".msix") || name.ends_with(".exe") {
            args.extend(["--authenticode-signer", "CN=Wizard GmbH"]);
        }
        args.extend(extra);
        self.cli_json(&args)
    }

    /// An SDK updater of a macOS app running `current`, trusting `root`, with its state in
    /// `data_dir`, against this server's feed.
    pub fn updater(&self, root: &[u8], current: &str, data_dir: &Path) -> relops_client::Updater {
        relops_client::Updater::new(sdk_config(
            &format!("{}/tuf/wizard/", self.url),
            root,
            &release_public_key(self),
            relops_core::platform::Platform::MacosUniversal,
            current,
            data_dir,
        ))
        .unwrap()
    }

    /// The product's first root metadata, as an app would ship it.
    pub async fn trusted_root(&self) -> Vec<u8> {
        let resp = reqwest::get(format!("{}/tuf/wizard/metadata/1.root.json", self.url))
            .await
            .unwrap();
        assert!(resp.status().is_success());
        resp.bytes().await.unwrap().to_vec()
    }

    /// Sessions of `installs` installs of `release` (stable, windows-x64), the first
    /// `crashed` of them crashed, through the native ingest API with the product's key.
    pub async fn report_sessions(&self, release: &str, installs: usize, crashed: usize) {
        let key = self.cli_json(&["ingest", "dsn"])["public_key"]
            .as_str()
            .unwrap()
            .to_owned();
        let sessions: Vec<serde_json::Value> = (0..installs)
            .map(|i| {
                serde_json::json!({
                    "install_id": format!("i-{i}"), "release": release,
                    "platform": "windows-x64", "channel": "stable",
                    "session_id": format!("s-{release}-{i}"),
                    "status": if i < crashed { "crashed" } else { "exited" },
                })
            })
            .collect();
        let r = reqwest::Client::new()
            .post(format!("{}/v1/ingest/sessions", self.url))
            .header("X-Relops-Ingest-Key", &key)
            .json(&serde_json::json!({ "sessions": sessions }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    pub fn http(&self) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: self.url.clone(),
            token: self.token.clone(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.data_dir;
    }
}

/// Plain HTTP against the server, for status codes and headers.
pub struct Http {
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Http {
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = token.to_owned();
        self
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.req(reqwest::Method::GET, path).send().await.unwrap()
    }

    /// GET with a `Range` header.
    pub async fn get_range(&self, path: &str, range: &str) -> reqwest::Response {
        self.req(reqwest::Method::GET, path)
            .header("range", range)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.req(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put_bytes(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.req(reqwest::Method::PUT, path)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts a CLI call failed with exit code `code` and stderr containing `needle`.
pub fn assert_refused(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        stderr.contains(needle),
        "expected {needle:?} in stderr: {stderr}"
    );
}

/// Deterministic pseudo-random bytes for test files.
pub fn test_bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}

/// The Python interpreter with python-tuf installed (`.ci/run` makes the venv and sets
/// `RELOPS_TEST_PYTHON`); `None` with the reason outside CI, a panic under CI.
pub fn python_with_tuf() -> Option<PathBuf> {
    python_with("tuf.ngclient")
}

/// The venv's Python if it can import `module`; `None` with the reason outside CI, a
/// panic under CI.
pub fn python_with(module: &str) -> Option<PathBuf> {
    let found = std::env::var_os("RELOPS_TEST_PYTHON")
        .map(PathBuf::from)
        .filter(|p| {
            Command::new(p)
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        let why = format!(
            "RELOPS_TEST_PYTHON does not name a Python with `{module}`: run `.ci/run`, which makes the venv"
        );
        if std::env::var_os("CI").is_some() {
            panic!("{module} required under CI: {why}");
        }
        eprintln!("skipped: test with {module}: {why}");
    }
    found
}

/// Runs python-tuf's ngclient against the server's feed for `product`, trusting `root`.
/// Returns the client's report (targets downloaded and verified, metadata versions), or
/// the client's error text.
pub fn python_tuf_refresh(
    python: &Path,
    server_url: &str,
    product: &str,
    root: &[u8],
    work: &Path,
) -> Result<serde_json::Value, String> {
    std::fs::create_dir_all(work).unwrap();
    let root_file = work.join("trusted-root.json");
    std::fs::write(&root_file, root).unwrap();
    python_tuf(
        python,
        &format!("{server_url}/tuf/{product}/metadata/"),
        &format!("{server_url}/tuf/{product}/targets/"),
        &root_file,
        work,
    )
}

/// Runs `tests/python/tuf_client.py` (python-tuf's ngclient) with its state in `work`.
pub fn python_tuf(
    python: &Path,
    metadata_url: &str,
    targets_url: &str,
    root_file: &Path,
    work: &Path,
) -> Result<serde_json::Value, String> {
    python_tuf_at(python, metadata_url, targets_url, root_file, work, 0)
}

/// [`python_tuf`] with the client's clock `days_ahead` days ahead (expiry is judged against
/// it).
pub fn python_tuf_at(
    python: &Path,
    metadata_url: &str,
    targets_url: &str,
    root_file: &Path,
    work: &Path,
    days_ahead: u32,
) -> Result<serde_json::Value, String> {
    std::fs::create_dir_all(work).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tuf_client.py");
    let out = Command::new(python)
        .env("TUF_CLIENT_DAYS_AHEAD", days_ahead.to_string())
        .arg(script)
        .args([metadata_url, targets_url])
        .arg(root_file)
        .arg(work)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A plain static HTTP server (`python -m http.server`) for a directory — an exported
/// feed as nginx or a CDN would serve it, or a hostile mirror. Killed on drop.
pub struct StaticServer {
    child: Child,
    pub base: String,
}

impl StaticServer {
    pub fn serve(python: &Path, dir: &Path) -> StaticServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        StaticServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// python-tuf against this directory (laid out as `metadata/` and `targets/`).
    pub fn python_tuf(
        &self,
        python: &Path,
        root_file: &Path,
        work: &Path,
    ) -> Result<serde_json::Value, String> {
        python_tuf(
            python,
            &format!("{}/metadata/", self.base),
            &format!("{}/targets/", self.base),
            root_file,
            work,
        )
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SDK's configuration for an app on `platform` running `current`, with its state in
/// `data_dir`.
pub fn sdk_config(
    feed_url: &str,
    root: &[u8],
    release_key: &str,
    platform: relops_core::platform::Platform,
    current: &str,
    data_dir: &Path,
) -> relops_client::Config {
    relops_client::Config {
        feed_url: feed_url.to_owned(),
        trusted_root: root.to_vec(),
        release_key: release_key.to_owned(),
        product: "wizard".into(),
        platform,
        channel: "stable".into(),
        current_version: current.parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        allow_insecure_http: false,
    }
}

/// The release key's public half, as `relops keys list` shows it.
pub fn release_public_key(s: &Server) -> String {
    public_key_of(&s.cli_json(&["keys", "list"]), "release")
}

/// A webhook receiver on 127.0.0.1 that records what it gets (by the URL's last segment),
/// answering 202.
pub struct Receiver {
    pub port: u16,
    pub got: Arc<Mutex<Vec<(String, Value)>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(port: u16, got: Arc<Mutex<Vec<(String, Value)>>>) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = got.clone();
        let app = axum::Router::new().route(
            "/{hook}",
            axum::routing::post(
                move |axum::extract::Path(hook): axum::extract::Path<String>, body: String| {
                    let sink = sink.clone();
                    async move {
                        let v: Value = serde_json::from_str(&body).unwrap();
                        sink.lock().unwrap().push((hook, v));
                        axum::http::StatusCode::ACCEPTED
                    }
                },
            ),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            port,
            got,
            stop: Some(tx),
            task,
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let _ = self.task.await;
    }

    pub fn of(&self, hook: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, _)| h == hook)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Native-API sessions (`POST /v1/ingest/sessions`) of `installs` (id, crashed) on a
/// release: Windows, stable, one ended session per install.
pub fn sessions_json(release: &str, installs: &[(String, bool)]) -> Vec<Value> {
    installs
        .iter()
        .map(|(id, crashed)| {
            serde_json::json!({
                "install_id": id, "release": release, "platform": "windows-x64",
                "channel": "stable", "session_id": format!("{id}-{release}"),
                "status": if *crashed { "crashed" } else { "exited" },
            })
        })
        .collect()
}

/// A TCP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `body` compressed as a `Content-Encoding` (`gzip`, `deflate`, `br`, `zstd`) says;
/// anything else as is.
pub fn compress(encoding: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match encoding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 9, 22);
                w.write_all(body).unwrap();
            }
            out
        }
        "zstd" => zstd::encode_all(body, 19).unwrap(),
        _ => body.to_vec(),
    }
}

/// Python with Playwright, Debian's Chromium and axe-core — and the `extra` parts a test
/// also needs (`(missing, what to do)`, present when `missing` is false) — or `None` after
/// saying what is missing (a panic under CI, where `.ci/run` installs them all).
pub fn browser_parts(extra: &[(bool, &str)]) -> Option<(PathBuf, String, String)> {
    let python = python_with("playwright.sync_api")?;
    let chromium =
        std::env::var("RELOPS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let axe = std::env::var("RELOPS_TEST_AXE").unwrap_or_default();
    let missing: Vec<&str> = [
        (!Path::new(&chromium).exists()).then_some("chromium (apt-get install chromium)"),
        (!Path::new(&axe).exists()).then_some("axe-core (RELOPS_TEST_AXE: npm's axe.min.js)"),
    ]
    .into_iter()
    .flatten()
    .chain(extra.iter().filter(|(m, _)| *m).map(|(_, what)| *what))
    .collect();
    if !missing.is_empty() {
        let why = format!(
            "{} missing: run `.ci/run`, which installs them",
            missing.join(", ")
        );
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipped: tests in a browser: {why}");
        return None;
    }
    Some((python, chromium, axe))
}

/// A Crashpad minidump upload's multipart body: the `sentry[…]` annotation fields, then the
/// dump as `upload_file_minidump`.
pub fn crashpad_form(boundary: &str, fields: &[(&str, &str)], dump: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    b.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; \
             filename=\"dump.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(dump);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    b
}

// The web console over HTTP: a client that does not follow redirects, a login with a
// token, a page as the session sees it.

/// A client that does not follow redirects (the test reads them).
pub fn console_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Logs in with `token`: the `relops_session=…` cookie pair and the whole Set-Cookie line.
pub async fn console_login(url: &str, token: &str) -> (String, String) {
    let r = console_client()
        .post(format!("{url}/login"))
        .form(&[("token", token), ("next", "/console/wizard/releases")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/wizard/releases");
    let line = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let pair = line.split(';').next().unwrap().to_owned();
    (pair, line)
}

pub async fn console_page(url: &str, path: &str, cookie: &str) -> (u16, String) {
    let r = console_client()
        .get(format!("{url}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The server's crash key (public, hex): what the SDK seals dumps to.
pub async fn crash_key(s: &Server) -> String {
    let keys: Value = s.http().get("/v1/keys").await.json().await.unwrap();
    crash_key_in(&keys)
}

/// The crash key in a `GET /v1/keys` answer.
pub fn crash_key_in(keys: &Value) -> String {
    public_key_of(keys, "crash")
}

/// The first public key of `role` in a key list (`GET /v1/keys`, `relops keys list`).
fn public_key_of(keys: &Value, role: &str) -> String {
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == role)
        .unwrap_or_else(|| panic!("no {role} key in {keys}"))["public_keys"][0]
        .as_str()
        .unwrap()
        .to_owned()
}
