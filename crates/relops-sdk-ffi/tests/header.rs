//! `include/relops.h` is what cbindgen makes of `src/lib.rs` today: a C app never compiles
//! against a header that says something the library does not do.

#[test]
fn header_is_current() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen reads src/lib.rs")
        .write(&mut generated);
    let path = format!("{dir}/include/relops.h");
    if std::env::var_os("RELOPS_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/relops.h is not what cbindgen makes of src/lib.rs: run RELOPS_UPDATE_HEADER=1 cargo test -p relops-sdk-ffi --test header, and commit the header"
    );
    let text = String::from_utf8(generated).unwrap();
    for f in [
        "relops_init",
        "relops_shutdown",
        "relops_last_error",
        "relops_check_update",
        "relops_session_start",
        "relops_session_end",
        "relops_crash_queue_minidump",
        "relops_log",
        "relops_audit",
    ] {
        assert!(text.contains(&format!("{f}(")), "{f} is declared");
    }
}
