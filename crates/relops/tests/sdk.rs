//! The updater SDK (`relops-client`) against a real relops server: check, resumable
//! download, verification and atomic staging, errors a UI can show.

mod common;

use common::{Backend, TestEnv, test_bytes};
use relops_client::{Error, Updater};
use relops_core::platform::Platform;

backend_tests!(
    check_download_resume_and_refusals,
    a_linux_update_installs_and_runs,
    an_update_arrives_as_a_delta_from_the_file_before
);

fn config(
    s: &common::Server,
    root: &[u8],
    release_key: &str,
    platform: Platform,
    current: &str,
    dir: &std::path::Path,
) -> relops_client::Config {
    common::sdk_config(
        &format!("{}/tuf/wizard/", s.url),
        root,
        release_key,
        platform,
        current,
        dir,
    )
}

async fn check_download_resume_and_refusals(b: Backend) {
    // Without the target cache, so that the bytes swapped in the store below are what the
    // server sends (with it, it keeps serving the copy it read before).
    let env = TestEnv::with_config(b, "[feed]\ntarget_cache_mib = 0\n").await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let publish = |v: &str, platform: &str, name: &str, bytes: &[u8]| {
        s.cli_json(&["release", "create", v, "--go-live", "2027-06-01"]);
        let a = s.upload(w, v, platform, name, bytes);
        s.ship(v);
        a
    };
    let v20 = test_bytes(300_000, 1);
    let v21 = test_bytes(700_000, 2);
    publish("2.0.0", "macos-universal", "W-2.0.0.dmg", &v20);
    let a21 = publish("2.1.0", "macos-universal", "W-2.1.0.dmg", &v21);
    let release_key = common::release_public_key(&s);
    let root = s.trusted_root().await;

    let app = w.join("app");
    let up = Updater::new(config(
        &s,
        &root,
        &release_key,
        Platform::MacosUniversal,
        "2.0.0",
        &app,
    ))
    .unwrap();
    let id = up.install_id().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert_eq!(
        Updater::new(config(
            &s,
            &root,
            &release_key,
            Platform::MacosUniversal,
            "2.0.0",
            &app
        ))
        .unwrap()
        .install_id(),
        id
    );
    let other = Updater::new(config(
        &s,
        &root,
        &release_key,
        Platform::MacosUniversal,
        "2.0.0",
        &w.join("app2"),
    ))
    .unwrap();
    assert_ne!(other.install_id(), id);

    let update = up.check().await.unwrap().expect("2.1.0 is offered");
    assert_eq!(update.version.to_string(), "2.1.0");
    // A check when nothing changed fetches the timestamp only: the same bytes as verified
    // before, so the snapshot and targets the updater holds are still the current ones.
    let (files, bytes) = up.feed_traffic();
    assert_eq!(up.check().await.unwrap(), Some(update.clone()));
    let (files2, bytes2) = up.feed_traffic();
    eprintln!(
        "first check: {files} files, {bytes} bytes; a check with nothing changed: {} files, {} bytes",
        files2 - files,
        bytes2 - bytes
    );
    assert_eq!(files2 - files, 1, "timestamp.json");
    assert_eq!(update.target, "wizard-2.1.0-macos-universal.dmg");
    assert_eq!(update.artifact, "W-2.1.0.dmg");
    assert_eq!(update.size, v21.len() as u64);
    assert_eq!(update.sha256, a21["sha256"].as_str().unwrap());
    // Nothing newer for 2.1.0, nothing at all for another platform.
    let current = Updater::new(config(
        &s,
        &root,
        &release_key,
        Platform::MacosUniversal,
        "2.1.0",
        &w.join("app3"),
    ))
    .unwrap();
    assert_eq!(current.check().await.unwrap(), None);
    let win = Updater::new(config(
        &s,
        &root,
        &release_key,
        Platform::WindowsX64,
        "1.0.0",
        &w.join("app4"),
    ))
    .unwrap();
    assert_eq!(win.check().await.unwrap(), None);

    // Resume: a part file with the first 100,000 bytes is continued, not restarted. A
    // part holding wrong bytes proves it: the result fails the digest and is discarded.
    let downloads = app.join("downloads");
    let part = downloads.join(format!("{}.part", update.target));
    std::fs::write(&part, vec![0u8; 100_000]).unwrap();
    let r = up.download(&update).await;
    assert!(matches!(r, Err(Error::DigestMismatch)), "{r:?}");
    assert!(!part.exists(), "a failed download leaves no part file");
    std::fs::write(&part, &v21[..100_000]).unwrap();
    let staged = up.download(&update).await.unwrap();
    assert_eq!(staged, downloads.join(&update.target));
    assert_eq!(std::fs::read(&staged).unwrap(), v21);

    // Blocking entry points, from a thread with no runtime.
    let up2 = up.clone();
    let u2 = update.clone();
    let path = std::thread::spawn(move || {
        let u = up2.check_blocking().unwrap().unwrap();
        assert_eq!(u, u2);
        up2.download_blocking(&u).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), v21);

    // A release key the app does not trust: TUF is fine, the release signature is not.
    let wrong_key = hex::encode(
        ed25519_dalek::SigningKey::from_bytes(&[5u8; 32])
            .verifying_key()
            .to_bytes(),
    );
    let suspicious = Updater::new(config(
        &s,
        &root,
        &wrong_key,
        Platform::MacosUniversal,
        "2.0.0",
        &w.join("app5"),
    ))
    .unwrap();
    let u = suspicious.check().await.unwrap().unwrap();
    let err = suspicious.download(&u).await.unwrap_err();
    assert!(matches!(err, Error::BadReleaseSignature), "{err}");
    assert!(err.to_string().contains("not signed by the release key"));

    // Tampered bytes in the store, and more bytes than the signed length: relops checks
    // what it sends and cuts such a download off (issue 15, 9), so the SDK sees a broken
    // transfer; from a hostile mirror it refuses them by digest or length itself
    // (tests/attacks.rs). Either way the file staged earlier stays as it was.
    let key = format!("blobs/sha256/{}", update.sha256);
    let mut tampered = v21.clone();
    tampered[5] ^= 1;
    env.blobs().put_raw(&key, tampered.into()).await.unwrap();
    let err = up.download(&update).await.unwrap_err();
    assert!(
        matches!(err, Error::DigestMismatch | Error::Network(_)),
        "{err}"
    );
    assert_eq!(std::fs::read(&staged).unwrap(), v21);
    let mut longer = v21.clone();
    longer.extend(test_bytes(1_000_000, 3));
    env.blobs().put_raw(&key, longer.into()).await.unwrap();
    let err = up.download(&update).await.unwrap_err();
    assert!(
        matches!(err, Error::LengthMismatch { .. } | Error::Network(_)),
        "{err}"
    );
    assert_eq!(std::fs::read(&staged).unwrap(), v21);

    // A metadata root from elsewhere: the feed does not verify.
    let other_env = TestEnv::new(Backend::SqliteLocal).await;
    let other_s = other_env.serve();
    let foreign = other_s.trusted_root().await;
    let fooled = Updater::new(config(
        &s,
        &foreign,
        &release_key,
        Platform::MacosUniversal,
        "2.0.0",
        &w.join("app6"),
    ))
    .unwrap();
    let err = fooled.check().await.unwrap_err();
    assert!(matches!(err, Error::Feed(_)), "{err}");

    // Plain http to a non-loopback host is refused up front; a bad key too.
    let mut c = config(
        &s,
        &root,
        &release_key,
        Platform::MacosUniversal,
        "2.0.0",
        &w.join("app7"),
    );
    c.feed_url = "http://updates.example.com/tuf/wizard/".into();
    assert!(matches!(
        Updater::new(c.clone()),
        Err(Error::InsecureUrl(_))
    ));
    c.allow_insecure_http = true;
    assert!(Updater::new(c.clone()).is_ok());
    c.release_key = "xyz".into();
    assert!(matches!(Updater::new(c), Err(Error::Config(_))));
    // A server that is down is a transient error.
    let mut c = config(
        &s,
        &root,
        &release_key,
        Platform::MacosUniversal,
        "2.0.0",
        &w.join("app8"),
    );
    c.feed_url = "http://127.0.0.1:9/tuf/wizard/".into();
    let err = Updater::new(c).unwrap().check().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

/// Issue 29 part 5: after a release is approved, the lead makes deltas from the releases
/// before it; an updater holding the earlier file downloads the delta, rebuilds the new
/// file byte for byte and verifies it as a whole download; holding a damaged base it falls
/// back to the whole file.
async fn an_update_arrives_as_a_delta_from_the_file_before(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let publish = |v: &str, bytes: &[u8]| {
        s.cli_json(&["release", "create", v, "--go-live", "2027-06-01"]);
        s.upload(w, v, "macos-universal", &format!("W-{v}.dmg"), bytes);
        s.ship(v);
    };
    // A patch release of an uncompressed container: most bytes stay, some change, some
    // are inserted (so the rest moves), some appended.
    let v20 = test_bytes(800_000, 11);
    let mut v21 = v20.clone();
    v21[300_000..301_000].copy_from_slice(&test_bytes(1_000, 12));
    v21.splice(100_000..100_000, test_bytes(5_000, 13));
    v21.extend(test_bytes(10_000, 14));
    publish("2.0.0", &v20);
    let release_key = common::release_public_key(&s);
    let root = s.trusted_root().await;
    let platform = Platform::MacosUniversal;

    // The app downloaded 2.0.0 whole when it updated to it; it runs 2.0.0 now.
    let app = w.join("app");
    let first = Updater::new(config(&s, &root, &release_key, platform, "1.0.0", &app)).unwrap();
    let u20 = first.check().await.unwrap().expect("2.0.0 is offered");
    assert!(u20.deltas.is_empty(), "{:?}", u20.deltas);
    first.download(&u20).await.unwrap();
    assert_eq!(first.downloaded_bytes(), v20.len() as u64);

    publish("2.1.0", &v21);
    let up = Updater::new(config(&s, &root, &release_key, platform, "2.0.0", &app)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let update = loop {
        let u = up.check().await.unwrap().expect("2.1.0 is offered");
        if !u.deltas.is_empty() {
            break u;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delta in the feed within 60 s of the approval"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(update.target, "wizard-2.1.0-macos-universal.dmg");
    let [delta] = update.deltas.as_slice() else {
        panic!("one base before 2.1.0: {:?}", update.deltas)
    };
    assert_eq!(delta.base_target, u20.target);
    assert_eq!(delta.base_sha256, u20.sha256);
    assert_eq!(
        delta.target,
        "wizard-2.1.0-macos-universal.dmg.from-2.0.0.delta"
    );
    eprintln!(
        "delta {} bytes for a file of {} ({:.3})",
        delta.size,
        update.size,
        delta.size as f64 / update.size as f64
    );
    assert!(delta.size * 10 < update.size, "{delta:?}");

    let staged = up.download(&update).await.unwrap();
    assert_eq!(std::fs::read(&staged).unwrap(), v21);
    assert_eq!(
        up.downloaded_bytes(),
        delta.size,
        "only the delta was fetched"
    );
    let downloads = app.join("downloads");
    let leftovers: Vec<_> = std::fs::read_dir(&downloads)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Another install whose copy of 2.0.0 is damaged (same length): the rebuilt file would
    // not be 2.1.0's, so it is discarded and the whole file downloaded.
    let other = w.join("other");
    let damaged_up =
        Updater::new(config(&s, &root, &release_key, platform, "2.0.0", &other)).unwrap();
    let mut damaged = v20.clone();
    damaged[400_000] ^= 0xff;
    std::fs::write(other.join("downloads").join(&u20.target), &damaged).unwrap();
    let u = damaged_up.check().await.unwrap().unwrap();
    assert_eq!(u.deltas, update.deltas);
    let staged = damaged_up.download(&u).await.unwrap();
    assert_eq!(std::fs::read(&staged).unwrap(), v21);
    assert_eq!(
        damaged_up.downloaded_bytes(),
        delta.size + v21.len() as u64,
        "the delta, then the whole file"
    );

    // /v1/update reads the same targets: the delta is a target of its own, offered to no
    // one as a release.
    let offered: serde_json::Value = reqwest::get(format!(
        "{}/v1/update?platform=macos-universal&channel=stable&version=2.0.0&install_id={}",
        s.url,
        up.install_id()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        offered["target"], "wizard-2.1.0-macos-universal.dmg",
        "{offered}"
    );

    // A static export carries the delta among the targets, not among other updaters' files.
    let export = w.join("export");
    let out = s.cli(&["feed", "export", export.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported = export
        .join("targets")
        .join(format!("{}.{}", delta.sha256, delta.target));
    assert_eq!(std::fs::metadata(&exported).unwrap().len(), delta.size);
    assert!(export.join("feeds/stable").is_dir());
    assert!(!export.join("feeds/stable").join(&delta.target).exists());
    // A TUF client that knows nothing of deltas verifies the feed with them in it.
    let verified = s.cli(&["feed", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

/// A tar.gz in a tarball with one top directory, its program printing `version`.
fn app_tar_gz(version: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let script = format!("#!/bin/sh\necho wizard {version}\n");
    let mut h = tar::Header::new_gnu();
    h.set_size(script.len() as u64);
    h.set_mode(0o755);
    h.set_cksum();
    b.append_data(
        &mut h,
        format!("wizard-{version}/bin/wizard"),
        script.as_bytes(),
    )
    .unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

/// R-AUTO-2 on Linux, for real: the installed 2.0.0 checks the feed, downloads, verifies
/// and stages 2.1.0 (a tar.gz), installs it over what is installed, and the installed
/// program then is 2.1.0. (AppImage: `install::tests`.)
async fn a_linux_update_installs_and_runs(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    for v in ["2.0.0", "2.1.0"] {
        s.cli_json(&["release", "create", v, "--go-live", "2027-06-01"]);
        s.upload(
            w,
            v,
            "linux-x64",
            &format!("wizard-{v}.tar.gz"),
            &app_tar_gz(v),
        );
        s.ship(v);
    }
    let release_key = common::release_public_key(&s);
    let root = s.trusted_root().await;
    let up = Updater::new(config(
        &s,
        &root,
        &release_key,
        Platform::LinuxX64,
        "2.0.0",
        &w.join("app"),
    ))
    .unwrap();
    let update = up.check().await.unwrap().expect("2.1.0 is offered");
    let staged = up.download(&update).await.unwrap();

    // What runs today: 2.0.0, unpacked by hand.
    let installed = w.join("opt").join("wizard");
    std::fs::create_dir_all(installed.join("bin")).unwrap();
    std::fs::write(
        installed.join("bin/wizard"),
        "#!/bin/sh\necho wizard 2.0.0\n",
    )
    .unwrap();
    std::fs::write(installed.join("stale.txt"), "from 2.0.0").unwrap();
    let plan = relops_client::install::plan(&relops_client::install::Target {
        staged: &staged,
        target_name: &update.target,
        installed: &installed,
        downgrade: update.downgrade,
        work_dir: &w.join("app"),
    })
    .unwrap();
    assert_eq!(plan.kind, "tar.gz");
    let done = relops_client::install::execute(&plan).unwrap();
    assert!(!done.restart_needed);
    let out = std::process::Command::new(installed.join("bin/wizard"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "wizard 2.1.0\n");
    assert!(
        !installed.join("stale.txt").exists(),
        "the old tree is gone"
    );
    let mut beside: Vec<_> = std::fs::read_dir(w.join("opt"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    beside.sort();
    assert_eq!(beside, ["wizard"], "no backup or half-made copy left");
}
