//! The README walkthrough ("Twenty minutes with relops") run as written, so that it keeps
//! working: every command of its `sh` blocks runs verbatim in one `bash`, in a fresh
//! directory that looks like the repository root to it (`examples/` and
//! `target/release/relops` are links to the repository's and to this build's binary), and
//! the output shown under a command (`# …` lines) must appear in what it printed, in order;
//! `…` stands for anything. A command whose shown output starts with `error:` must fail;
//! every other must succeed.
//!
//! What the test does not take verbatim, and why: `cargo build --release` is skipped (the
//! test runs on the binary `cargo test` built); the server's block runs in the background
//! (it is "the other terminal") on a free port, which replaces `127.0.0.1:8080` everywhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECTION: &str = "## Twenty minutes with relops";

/// One command of the walkthrough and the output shown under it.
#[derive(Debug)]
struct Step {
    command: String,
    expected: Vec<String>,
}

/// The walkthrough's `sh` blocks, each a list of steps.
fn walkthrough(readme: &str) -> Vec<Vec<Step>> {
    let start = readme
        .find(SECTION)
        .expect("the README has the walkthrough section");
    let rest = &readme[start + SECTION.len()..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut blocks = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```sh" {
            continue;
        }
        let mut steps: Vec<Step> = Vec::new();
        let mut pending = String::new();
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            if pending.is_empty() && (line.starts_with("# ") || line == "#") {
                let step = steps
                    .last_mut()
                    .unwrap_or_else(|| panic!("output line {line:?} follows no command"));
                // `# ` is the marker; what follows is the line as printed, indent included.
                let shown = line.strip_prefix("# ").unwrap_or("");
                step.expected.push(shown.trim_end().to_owned());
                continue;
            }
            if let Some(head) = line.strip_suffix('\\') {
                pending.push_str(head);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            steps.push(Step {
                command: std::mem::take(&mut pending),
                expected: Vec::new(),
            });
        }
        blocks.push(steps);
    }
    blocks
}

/// Whether `line` matches `pattern`, where `…` stands for any text.
fn matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return line.trim_end() == pattern;
    }
    if !line.starts_with(first) || !line.trim_end().ends_with(last) {
        return false;
    }
    let mut at = first.len();
    for p in &parts[1..parts.len() - 1] {
        match line[at..].find(p) {
            Some(i) => at += i + p.len(),
            None => return false,
        }
    }
    line.trim_end().len() >= at + last.len()
}

/// Checks that the shown lines appear in the output, in order.
fn check_output(step: &Step, output: &str) -> Result<(), String> {
    let mut lines = output.lines();
    for want in &step.expected {
        if !lines.by_ref().any(|l| matches(want, l)) {
            return Err(format!(
                "`{}` should print a line like {want:?} (in this order); it printed:\n{output}",
                step.command
            ));
        }
    }
    Ok(())
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory that looks like the repository root to the walkthrough.
fn workspace(repo: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo.join("examples"), dir.path().join("examples")).unwrap();
    std::fs::create_dir_all(dir.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_relops"),
        dir.path().join("target/release/relops"),
    )
    .unwrap();
    dir
}

fn bash(dir: &Path) -> Command {
    let mut c = Command::new("bash");
    c.current_dir(dir)
        .env_remove("RELOPS_TOKEN")
        .env_remove("RELOPS_URL")
        .env_remove("RELOPS_DATA_DIR")
        .env_remove("RELOPS_CONFIG")
        .env("RELOPS_LOG", "warn");
    c
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let port = free_port();
    let local = |s: &str| s.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let blocks = walkthrough(&readme);
    assert!(
        blocks.len() > 5,
        "the walkthrough has its blocks: {blocks:?}"
    );
    let dir = workspace(&repo);

    // The first block is the server's terminal.
    let (server_block, client_blocks) = blocks.split_first().unwrap();
    let mut script = String::from("set -e\n");
    let mut serve_step = None;
    for step in server_block {
        if step.command.starts_with("cargo ") {
            continue;
        }
        if step.command.trim() == "relops serve" {
            script += &format!("exec relops serve --listen 127.0.0.1:{port}\n");
            serve_step = Some(step);
        } else {
            script += &local(&step.command);
            script.push('\n');
        }
    }
    let serve_step = serve_step.expect("the first block starts the server with `relops serve`");
    let log = dir.path().join("serve.out");
    let _server = Serve(
        bash(dir.path())
            .args(["-c", &script])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let printed = loop {
        let printed = std::fs::read_to_string(&log).unwrap_or_default();
        if printed.contains("listening on") {
            break printed;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not start: {printed}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    check_output(serve_step, &printed).unwrap();

    // The other terminal: every step in one shell (exports carry over), each step's output
    // and exit code kept apart.
    let out = dir.path().join("steps");
    std::fs::create_dir(&out).unwrap();
    let steps: Vec<&Step> = client_blocks.iter().flatten().collect();
    let mut script = String::new();
    for (i, step) in steps.iter().enumerate() {
        script += &format!(
            "{{\n{}\n}} > {dir}/{i}.out 2>&1; echo $? > {dir}/{i}.rc\n",
            local(&step.command),
            dir = out.display()
        );
    }
    let run = bash(dir.path()).args(["-c", &script]).output().unwrap();
    assert!(
        run.status.success(),
        "the walkthrough's shell failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut wrong = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let printed = std::fs::read_to_string(out.join(format!("{i}.out"))).unwrap();
        let rc: i32 = std::fs::read_to_string(out.join(format!("{i}.rc")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let should_fail = step
            .expected
            .first()
            .is_some_and(|l| l.starts_with("error:"));
        if (rc != 0) != should_fail {
            wrong.push(format!(
                "`{}` exited {rc}{}; it printed:\n{printed}",
                step.command,
                if should_fail {
                    ", but the README shows it refused"
                } else {
                    ""
                }
            ));
        } else if let Err(e) = check_output(step, &printed) {
            wrong.push(e);
        }
        if std::env::var_os("WALKTHROUGH_SHOW").is_some() {
            // For whoever edits the walkthrough: everything it printed.
            println!("$ {}\n{printed}", step.command);
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} walkthrough commands do not do what the README shows:\n\n{}",
        wrong.len(),
        steps.len(),
        wrong.join("\n")
    );
}

#[test]
fn output_patterns() {
    assert!(matches(
        "created wizard 2.1.0 …",
        "created wizard 2.1.0 (minor)"
    ));
    assert!(matches("token … (sam, …", "token 1a2b (sam, role x)"));
    assert!(matches("…soak…", "error: the soak is not over"));
    assert!(!matches("…soak…", "error: the gate"));
    assert!(!matches("a…b", "a"));
    assert!(matches(
        "data dir: …/relops-data",
        "data dir: /tmp/x/relops-data"
    ));
    assert!(!matches("exact", "exact and more"));
    let blocks = walkthrough(
        "## Twenty minutes with relops\n```sh\nrelops a \\\n  --b\n# out …\nrelops c\n```\n## Next\n```sh\nnot me\n```\n",
    );
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0][0].command, "relops a    --b");
    assert_eq!(blocks[0][0].expected, vec!["out …"]);
    assert_eq!(blocks[0][1].command, "relops c");
}
