//! Console login through a real OpenID provider (issue 26): npm `oidc-provider` run by
//! Node, relops configured with `[console.oidc]`, and Debian's Chromium driven by
//! Playwright through the provider's login and consent pages
//! (`tests/python/console_sso.py`). A person in a mapped group gets a session with the
//! group's roles; a person in no mapped group is refused and gets none; a callback not
//! started in the browser, used twice, or carrying the provider's error is refused.
//!
//! SQLite only: the login reads and writes two small tables through the operations layer,
//! which the other tests run on both backends.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{Backend, TestEnv, free_port};

/// Node and npm's oidc-provider besides the browser's parts, or `None` with the reason.
fn parts() -> Option<(PathBuf, PathBuf, String, String)> {
    let npm = PathBuf::from(std::env::var("RELOPS_TEST_NPM").unwrap_or_default());
    let node = Command::new("node").arg("--version").output().is_ok();
    let (python, chromium, axe) = common::browser_parts(&[
        (!node, "node (apt-get install nodejs)"),
        (
            !npm.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider (RELOPS_TEST_NPM: the npm directory .ci/run fills)",
        ),
    ])?;
    Some((python, npm, chromium, axe))
}

/// The provider, listening once this returns; killed when dropped.
struct Provider(Child);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn provider(npm: &Path, dir: &Path, cfg: &serde_json::Value) -> Provider {
    use std::io::BufRead;
    // Node resolves the script's imports from its own directory up: the script sits
    // beside a link to the npm directory's modules.
    std::os::unix::fs::symlink(npm.join("node_modules"), dir.join("node_modules")).unwrap();
    let script = dir.join("oidc_provider.mjs");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node/oidc_provider.mjs"),
        &script,
    )
    .unwrap();
    let cfg_file = dir.join("provider.json");
    std::fs::write(&cfg_file, cfg.to_string()).unwrap();
    let mut child = Command::new("node")
        .arg(&script)
        .arg(&cfg_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the OpenID provider exited before it listened")
            .unwrap();
        if line.trim() == "ready" {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Provider(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_log_in_through_the_company_openid_provider() {
    let Some((python, npm, chromium, axe)) = parts() else {
        return;
    };
    let (port, idp_port) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{port}");
    let idp = format!("http://127.0.0.1:{idp_port}");
    let env = TestEnv::with_config(
        Backend::SqliteLocal,
        &format!(
            r#"
[console.oidc]
issuer = "{idp}"
client_id = "relops"
client_secret = "relops-test-secret"
redirect_url = "{url}/login/oidc/callback"
button = "Log in with Example SSO"
[console.oidc.roles]
"wizard-oncall" = ["oncall_devops"]
"wizard-product" = ["product_owner", "oncall_devops"]
"#
        ),
    )
    .await;
    let toml = env.path().join("relops.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let _idp = provider(
        &npm,
        work.path(),
        &serde_json::json!({
            "port": idp_port,
            "client_id": "relops",
            "client_secret": "relops-test-secret",
            "redirect_uri": format!("{url}/login/oidc/callback"),
            "accounts": {
                "olga": {"name": "Olga Oncall", "email": "olga@example.com",
                         "groups": ["wizard-oncall", "staff"]},
                "mallory": {"name": "Mallory", "email": "mallory@example.com",
                            "groups": ["staff"]},
            },
        }),
    );
    let s = env.serve();
    assert_eq!(s.url, url);

    // Callbacks that no browser started here, or that carry the provider's refusal.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .get(format!("{url}/login/oidc/callback?code=abc&state=def"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("relops_session="))
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not started in this browser")
    );
    let r = client
        .get(format!(
            "{url}/login/oidc/callback?error=access_denied&error_description=%3Cscript%3Ewindow.pwned%3D1%3C%2Fscript%3E"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("the OpenID provider refused the login"),
        "{page}"
    );
    assert!(!page.contains("<script>window.pwned"), "{page}");

    let cfg = serde_json::json!({
        "url": url, "chromium": chromium, "axe": axe, "accounts": ["olga", "mallory"],
    });
    let cfg_file = work.path().join("sso.json");
    std::fs::write(&cfg_file, cfg.to_string()).unwrap();
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/console_sso.py"))
        .arg(&cfg_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let olga = &r["olga"];
    assert_eq!(olga["button"], "Log in with Example SSO", "{r}");
    assert_eq!(olga["axe"], serde_json::json!([]), "{r}");
    // Olga's group gives her on-call's role; she lands where the login started.
    assert_eq!(olga["path"], "/console/wizard/releases", "{r}");
    let who = olga["who"].as_str().unwrap_or_default();
    assert!(
        who.contains("Olga Oncall") && who.contains("oncall_devops"),
        "{r}"
    );
    assert_eq!(
        olga["cookies"],
        serde_json::json!(["relops_session"]),
        "{r}"
    );
    assert!(
        matches!(olga["replay"].as_u64(), Some(400..=499)),
        "a used callback is refused: {r}"
    );
    // Mallory's groups map to no role: the login page says so, and there is no session.
    let mallory = &r["mallory"];
    assert_eq!(mallory["who"], serde_json::Value::Null, "{r}");
    assert!(
        mallory["error"]
            .as_str()
            .is_some_and(|e| e.contains("hold no relops role") && e.contains("staff")),
        "{r}"
    );
    assert_eq!(mallory["cookies"], serde_json::json!([]), "{r}");
}
