//! Attacks on the update feed that python-tuf's ngclient and the relops SDK must both
//! refuse (issue 3). A hostile
//! mirror is a static export of a genuine feed, altered, served by a plain HTTP server;
//! altered metadata is signed with the installation's own key files where the attack needs
//! a valid signature, so that only the property under attack is wrong.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, Utc};
use common::{
    Backend, StaticServer, TestEnv, python_with_tuf, release_public_key, sdk_config, test_bytes,
};
use ed25519_dalek::SigningKey;
use relops_tuf::{Key, Root, Signed, Targets, Timestamp, sign};

fn key(env: &TestEnv, role: &str) -> SigningKey {
    let v: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.path().join(format!("keys/{role}.json"))).unwrap(),
    )
    .unwrap();
    let b: [u8; 32] = hex::decode(v["keyval"]["private"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    SigningKey::from_bytes(&b)
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

fn latest(dir: &Path, role: &str) -> (u64, PathBuf) {
    std::fs::read_dir(dir.join("metadata"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().unwrap();
            let n: u64 = name.strip_suffix(&format!(".{role}.json"))?.parse().ok()?;
            Some((n, e.path()))
        })
        .max()
        .unwrap()
}

/// The SDK's updater for a mirror, with its state in `state`.
fn sdk(
    mirror: &StaticServer,
    root: &[u8],
    release_key: &str,
    state: &Path,
) -> relops_client::Updater {
    relops_client::Updater::new(sdk_config(
        &format!("{}/", mirror.base),
        root,
        release_key,
        relops_core::platform::Platform::MacosUniversal,
        "0.0.1",
        state,
    ))
    .unwrap()
}

fn expect_feed_refusal<T: std::fmt::Debug>(r: Result<T, relops_client::Error>) {
    match r {
        Err(relops_client::Error::Feed(_)) => {}
        other => panic!("the SDK did not refuse the feed: {other:?}"),
    }
}

fn expect_refusal(result: Result<serde_json::Value, String>, error: &str) {
    match result {
        Ok(v) => panic!("python-tuf accepted the attack: {v}"),
        Err(e) => assert!(e.contains(error), "expected {error}, got: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_tuf_and_the_sdk_refuse_attacks() {
    let Some(python) = python_with_tuf() else {
        return;
    };
    let env = TestEnv::new(Backend::SqliteLocal).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let publish = |v: &str, seed: u8| {
        s.cli_json(&["release", "create", v, "--go-live", "2027-06-01"]);
        s.upload(
            w,
            v,
            "macos-universal",
            &format!("{v}.dmg"),
            &test_bytes(40_000, seed),
        );
        s.ship(v);
    };
    publish("2.0.0", 1);
    publish("2.1.0", 2);
    let good = w.join("good");
    s.cli_json(&["feed", "export", good.to_str().unwrap()]);
    let root = good.join("metadata/1.root.json");
    let root_bytes = std::fs::read(&root).unwrap();
    let release_key = release_public_key(&s);
    let sdk_trusted = w.join("sdk-trusted");

    // The genuine mirror works, and a client that trusted it keeps its state.
    let trusted = w.join("client-trusted");
    {
        let m = StaticServer::serve(&python, &good);
        let ok = m.python_tuf(&python, &root, &trusted).unwrap();
        assert_eq!(ok["targets"].as_object().unwrap().len(), 2);
        let u = sdk(&m, &root_bytes, &release_key, &sdk_trusted)
            .check()
            .await
            .unwrap();
        assert_eq!(u.unwrap().version.to_string(), "2.1.0");
    }
    publish("2.2.0", 3);
    let newer = w.join("newer");
    s.cli_json(&["feed", "export", newer.to_str().unwrap()]);
    {
        let m = StaticServer::serve(&python, &newer);
        m.python_tuf(&python, &root, &trusted).unwrap();
        let u = sdk(&m, &root_bytes, &release_key, &sdk_trusted)
            .check()
            .await
            .unwrap();
        assert_eq!(u.unwrap().version.to_string(), "2.2.0");
    }

    // 1. Rollback: the mirror replays the older timestamp to a client that saw the newer.
    let replay = w.join("replay");
    copy_dir(&newer, &replay);
    std::fs::copy(
        good.join("metadata/timestamp.json"),
        replay.join("metadata/timestamp.json"),
    )
    .unwrap();
    let m = StaticServer::serve(&python, &replay);
    expect_refusal(
        m.python_tuf(&python, &root, &trusted),
        "BadVersionNumberError",
    );
    expect_feed_refusal(
        sdk(&m, &root_bytes, &release_key, &sdk_trusted)
            .check()
            .await,
    );

    // 2. Freeze: a validly signed but expired timestamp.
    let frozen = w.join("frozen");
    copy_dir(&good, &frozen);
    let ts: Signed<Timestamp> =
        Signed::from_bytes(&std::fs::read(good.join("metadata/timestamp.json")).unwrap()).unwrap();
    let stale = Timestamp::new(
        ts.signed.common.version + 1,
        Utc::now() - Duration::hours(1),
        ts.signed.snapshot_version().unwrap(),
    );
    let stale = sign(stale, &[&key(&env, "timestamp")])
        .unwrap()
        .to_bytes()
        .unwrap();
    std::fs::write(frozen.join("metadata/timestamp.json"), stale).unwrap();
    let m = StaticServer::serve(&python, &frozen);
    expect_refusal(
        m.python_tuf(&python, &root, &w.join("c2")),
        "ExpiredMetadataError",
    );
    expect_feed_refusal(
        sdk(&m, &root_bytes, &release_key, &w.join("s2"))
            .check()
            .await,
    );

    // 3. Mix and match: the newer snapshot with the older targets file in its place.
    let mixed = w.join("mixed");
    copy_dir(&newer, &mixed);
    let (tv, tpath) = latest(&newer, "targets");
    let (_, old_targets) = latest(&good, "targets");
    assert!(tv > latest(&good, "targets").0);
    std::fs::copy(
        old_targets,
        mixed.join("metadata").join(tpath.file_name().unwrap()),
    )
    .unwrap();
    let m = StaticServer::serve(&python, &mixed);
    expect_refusal(
        m.python_tuf(&python, &root, &w.join("c3")),
        "BadVersionNumberError",
    );
    expect_feed_refusal(
        sdk(&m, &root_bytes, &release_key, &w.join("s3"))
            .check()
            .await,
    );

    // 4. Endless data: a target file that goes on past its declared length.
    let endless = w.join("endless");
    copy_dir(&good, &endless);
    let target = std::fs::read_dir(endless.join("targets"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&target).unwrap();
    bytes.extend(test_bytes(4 * 1024 * 1024, 9));
    std::fs::write(&target, bytes).unwrap();
    let m = StaticServer::serve(&python, &endless);
    expect_refusal(
        m.python_tuf(&python, &root, &w.join("c4")),
        "DownloadLengthMismatchError",
    );
    let up = sdk(&m, &root_bytes, &release_key, &w.join("s4"));
    let u = up.check().await.unwrap().unwrap();
    let err = up.download(&u).await.unwrap_err();
    assert!(
        matches!(err, relops_client::Error::LengthMismatch { .. }),
        "{err}"
    );

    // 4b. Flipped bytes: a target file of the right length whose content changed.
    let flipped = w.join("flipped");
    copy_dir(&good, &flipped);
    let target = std::fs::read_dir(flipped.join("targets"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&target).unwrap();
    bytes[7] ^= 0x80;
    std::fs::write(&target, bytes).unwrap();
    let m = StaticServer::serve(&python, &flipped);
    let up = sdk(&m, &root_bytes, &release_key, &w.join("s4b"));
    let u = up.check().await.unwrap().unwrap();
    let err = up.download(&u).await.unwrap_err();
    assert!(matches!(err, relops_client::Error::DigestMismatch), "{err}");

    // 5. Targets metadata signed by a key that root does not list.
    let forged = w.join("forged");
    copy_dir(&good, &forged);
    let (_, tpath) = latest(&good, "targets");
    let t: Signed<Targets> = Signed::from_bytes(&std::fs::read(&tpath).unwrap()).unwrap();
    let mut evil = t.signed.clone();
    evil.targets.values_mut().for_each(|f| f.length += 1);
    let stranger = SigningKey::from_bytes(&[42u8; 32]);
    let evil = sign(evil, &[&stranger]).unwrap().to_bytes().unwrap();
    std::fs::write(
        forged.join("metadata").join(tpath.file_name().unwrap()),
        evil,
    )
    .unwrap();
    let m = StaticServer::serve(&python, &forged);
    expect_refusal(
        m.python_tuf(&python, &root, &w.join("c5")),
        "UnsignedMetadataError",
    );
    expect_feed_refusal(
        sdk(&m, &root_bytes, &release_key, &w.join("s5"))
            .check()
            .await,
    );

    // 6. A root "rotation" signed only by the new root key.
    let rotated = w.join("rotated");
    copy_dir(&good, &rotated);
    let r1: Signed<Root> = Signed::from_bytes(&std::fs::read(&root).unwrap()).unwrap();
    let mut r2 = r1.signed.clone();
    r2.common.version = 2;
    let new_root = SigningKey::from_bytes(&[43u8; 32]);
    r2.set_role("root", &[Key::ed25519(&new_root.verifying_key())], 1);
    let r2 = sign(r2, &[&new_root]).unwrap().to_bytes().unwrap();
    std::fs::write(rotated.join("metadata/2.root.json"), r2).unwrap();
    let m = StaticServer::serve(&python, &rotated);
    expect_refusal(
        m.python_tuf(&python, &root, &w.join("c6")),
        "UnsignedMetadataError",
    );
    expect_feed_refusal(
        sdk(&m, &root_bytes, &release_key, &w.join("s6"))
            .check()
            .await,
    );
}
