use super::*;

/// The sample format's registry, written against this module.
mod relops_client_project {
    pub use super::super::Migrations;
}
include!("../../../../examples/wzp/migrations.rs");

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../examples/wzp/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn an_older_file_is_migrated_up_a_newer_one_opens_read_only() {
    let m = migrations(7);
    assert_eq!((m.schema(), m.downgrades_to()), (7, 5));
    let current = m.open(&sample("q3-schema7.wzp")).unwrap();
    assert_eq!(current.mode, Mode::ReadWrite);
    let old = m.open(&sample("q3-schema5.wzp")).unwrap();
    assert_eq!(old.mode, Mode::Migrated { from: 5 });
    assert_eq!(m.write(7, &old.body), sample("q3-schema7.wzp"));
    let newer = m.open(&sample("q3-schema9.wzp")).unwrap();
    assert_eq!(newer.mode, Mode::ReadOnly { file_schema: 9 });
    assert!(String::from_utf8(newer.body).unwrap().contains("layers"));
}

#[test]
fn a_file_goes_back_down_before_a_rollback_as_far_as_the_steps_reach() {
    let m = migrations(7);
    assert_eq!(
        m.downgrade(&sample("q3-schema7.wzp"), 5).unwrap(),
        sample("q3-schema5.wzp")
    );
    assert_eq!(
        m.downgrade(&sample("q3-schema5.wzp"), 5).unwrap(),
        sample("q3-schema5.wzp")
    );
    assert_eq!(
        m.downgrade(&sample("q3-schema7.wzp"), 4),
        Err(ProjectError::NoWayDown {
            from: 7,
            to: 4,
            step: 5,
            prev: 4
        })
    );
    // A release writing schema 6 (the one a rollback would go back to) opens a schema-7
    // file read-only, and refuses a file older than its registry reaches.
    let six = migrations(6);
    assert_eq!(six.downgrades_to(), 5);
    assert_eq!(
        six.open(&sample("q3-schema7.wzp")).unwrap().mode,
        Mode::ReadOnly { file_schema: 7 }
    );
    let four = six.write(4, b"{}\n");
    assert_eq!(
        six.open(&four),
        Err(ProjectError::TooOld {
            file: 4,
            missing: 4,
            next: 5
        })
    );
}

#[test]
fn what_is_not_a_project_file_is_refused() {
    let m = migrations(7);
    for bad in [&b"PNG 7\n{}"[..], b"WZP seven\n{}", b"WZP 7", b"\xff\xfe"] {
        assert!(
            matches!(m.open(bad), Err(ProjectError::NoHeader { .. })),
            "{bad:?}"
        );
    }
    let broken = m.write(6, b"not json");
    assert!(matches!(
        m.open(&broken),
        Err(ProjectError::Step { from: 6, to: 7, .. })
    ));
}
