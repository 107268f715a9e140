//! What the chaos tests (issue 28 part 6) stop and start under load: a PostgreSQL cluster
//! of the test's own (the shared one serves every other test), and nginx in front of the
//! replicas with `deploy/nginx/relops.conf`, as a user deploys them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// `Some(value)` of an environment variable `.ci/run` exports; `None` with the reason on
/// stderr outside CI, a panic under CI (the chaos tests must run there).
pub fn required(var: &str, what: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|v| !v.is_empty()) {
        Some(v) => Some(v),
        None => {
            let why = format!("{var} not set ({what}): run `.ci/run`");
            assert!(std::env::var_os("CI").is_none(), "required under CI: {why}");
            eprintln!("skipped: {why}");
            None
        }
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `cmd` (a shell command line) as the `postgres` user when this process is root
/// (PostgreSQL refuses to run as root), else as this user.
fn as_postgres(cmd: &str) {
    let out = if is_root() {
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", cmd])
            .output()
    } else {
        Command::new("sh").args(["-c", cmd]).output()
    }
    .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A throw-away PostgreSQL cluster on 127.0.0.1, stopped when dropped.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PgCluster {
    /// A new cluster (`initdb`, `pg_ctl start`), with the binaries in `RELOPS_TEST_PGBIN`.
    pub fn start() -> Option<Self> {
        let bin = PathBuf::from(required(
            "RELOPS_TEST_PGBIN",
            "PostgreSQL's bin directory, for a cluster the test may restart",
        )?);
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("pg");
        std::fs::create_dir(&data).unwrap();
        if is_root() {
            let _ = Command::new("chmod").args(["755"]).arg(dir.path()).status();
            let _ = Command::new("chown").arg("postgres").arg(&data).status();
        }
        as_postgres(&format!(
            "{}/initdb -D {} -A trust -U postgres >/dev/null",
            bin.display(),
            data.display()
        ));
        let c = Self {
            dir,
            bin,
            port: free_port(),
        };
        c.start_again();
        Some(c)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("pg")
    }

    /// The superuser's URL (its `postgres` database).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m fast`: sessions are ended, the server shuts down cleanly.
    pub fn stop(&self) {
        as_postgres(&format!(
            "{}/pg_ctl -D {} -m fast -w stop >/dev/null",
            self.bin.display(),
            self.data().display()
        ));
    }

    /// Starts the cluster (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let data = self.data();
        as_postgres(&format!(
            "{}/pg_ctl -D {} -w -l {}/log -o '-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200' start >/dev/null",
            self.bin.display(),
            data.display(),
            data.display(),
            self.port,
            data.display()
        ));
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let cmd = format!(
            "{}/pg_ctl -D {} -m immediate stop",
            self.bin.display(),
            self.data().display()
        );
        let _ = if is_root() {
            Command::new("su")
                .args(["postgres", "-s", "/bin/sh", "-c", &cmd])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        } else {
            Command::new("sh")
                .args(["-c", &cmd])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
        };
    }
}

/// nginx in front of replicas, configured by `deploy/nginx/relops.conf` with its example
/// upstream servers replaced by `replicas` (`127.0.0.1:PORT`); stopped when dropped.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    pub url: String,
}

impl Nginx {
    pub fn start(replicas: &[&str]) -> Option<Self> {
        let bin = required("RELOPS_TEST_NGINX", "the nginx binary")?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let example = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nginx/relops.conf"),
        )
        .unwrap();
        let mut site = String::new();
        let mut servers_written = false;
        for line in example.lines() {
            let t = line.trim_start();
            if t.starts_with("server 10.0.0.") {
                if !servers_written {
                    for r in replicas {
                        site.push_str(&format!("    server {r} max_fails=1 fail_timeout=2s;\n"));
                    }
                    servers_written = true;
                }
            } else if t == "listen 80;" {
                site.push_str(&format!("    listen 127.0.0.1:{port};\n"));
            } else {
                site.push_str(line);
                site.push('\n');
            }
        }
        assert!(servers_written, "the example names its upstream servers");
        let d = dir.path().display();
        let conf = format!(
            "worker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
             daemon off;\nevents {{ worker_connections 1024; }}\nhttp {{\n\
             access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
             {site}}}\n"
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(&bin)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not listen: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// nginx's error log (what it says of the replicas it passed over).
    pub fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An S3 server of the test's own (`s3s-fs`, as `.ci/run` starts the shared one), with
/// the shared one's credentials and bucket; stopped when dropped.
pub struct S3Server {
    dir: tempfile::TempDir,
    bin: String,
    pub port: u16,
    child: Option<Child>,
}

impl S3Server {
    pub fn start() -> Option<Self> {
        let bin = required("RELOPS_TEST_S3S", "the s3s-fs binary")?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("relops-test")).unwrap();
        let mut s = Self {
            dir,
            bin,
            port: free_port(),
            child: None,
        };
        s.start_again();
        Some(s)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub fn start_again(&mut self) {
        let child = Command::new(&self.bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--access-key",
                "relops-ci",
                "--secret-key",
                "relops-ci-secret",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "s3s-fs did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server: connections to its port are refused until [`Self::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A small filesystem of its own (tmpfs), to fill up; unmounted when dropped. Needs root
/// (mount): `None`, with the reason, otherwise.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(megabytes: u32) -> Option<Self> {
        if !is_root() {
            eprintln!("skipped: mounting a small filesystem to fill needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(
                std::env::var_os("CI").is_none(),
                "mount tmpfs failed under CI: {why}"
            );
            eprintln!("skipped: cannot mount a small filesystem: {why}");
            return None;
        }
        Some(Self { dir })
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the disk with a file `filler`, to the last block.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        for chunk in [1 << 20, 4096, 512, 1] {
            let buf = vec![0x5a_u8; chunk];
            while f.write_all(&buf).and_then(|()| f.flush()).is_ok() {}
        }
        let _ = f.sync_all();
    }

    /// Gives the space back.
    pub fn free(&self) {
        std::fs::remove_file(self.path().join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
