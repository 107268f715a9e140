use std::os::unix::fs::PermissionsExt;

use super::*;

fn target<'a>(staged: &'a Path, name: &'a str, installed: &'a Path, work: &'a Path) -> Target<'a> {
    Target {
        staged,
        target_name: name,
        installed,
        downgrade: false,
        work_dir: work,
    }
}

fn run_args(step: &Step) -> (&str, Vec<&str>) {
    match step {
        Step::Run { program, args, .. } => {
            (program.as_str(), args.iter().map(String::as_str).collect())
        }
        other => panic!("not a command: {other:?}"),
    }
}

#[test]
fn msi_is_msiexec_quiet_without_restart_and_logged() {
    let p = plan(&target(
        Path::new(r"C:\ProgramData\Wizard\relops\downloads\wizard-2.1.0-windows-x64.msi"),
        "wizard-2.1.0-windows-x64.msi",
        Path::new(""),
        Path::new(r"C:\ProgramData\Wizard\relops"),
    ))
    .unwrap();
    assert_eq!(p.kind, "msi");
    assert_eq!(p.steps.len(), 1);
    assert!(p.finally.is_empty());
    let (program, args) = run_args(&p.steps[0]);
    assert_eq!(program, "msiexec.exe");
    assert_eq!(args[0], "/i");
    assert!(args[1].ends_with("wizard-2.1.0-windows-x64.msi"));
    assert_eq!(&args[2..5], ["/qn", "/norestart", "/l*v"]);
    assert!(args[5].ends_with("msiexec.log"));
    let Step::Run {
        ok, restart, retry, ..
    } = &p.steps[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (ok.as_slice(), restart.as_slice(), retry.as_slice()),
        (&[0][..], &[3010, 1641][..], &[1618][..])
    );
}

#[test]
fn msix_is_add_appxpackage_forced_from_any_version_for_a_rollback() {
    let staged = Path::new(r"C:\Users\O'Brien\AppData\wizard-2.0.0-windows-x64.msix");
    let mut t = target(
        staged,
        "wizard-2.0.0-windows-x64.msix",
        Path::new(""),
        Path::new("."),
    );
    let (program, args) = {
        let p = plan(&t).unwrap();
        let (program, args) = run_args(&p.steps[0]);
        (
            program.to_owned(),
            args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(program, "powershell.exe");
    assert_eq!(
        args,
        [
            "-NoProfile",
            "-NonInteractive",
            "-ExecutionPolicy",
            "Bypass",
            "-Command",
            r"Add-AppxPackage -Path 'C:\Users\O''Brien\AppData\wizard-2.0.0-windows-x64.msix' -ForceApplicationShutdown"
        ]
    );
    t.downgrade = true;
    let p = plan(&t).unwrap();
    assert!(run_args(&p.steps[0]).1[5].ends_with(" -ForceUpdateFromAnyVersion"));
}

#[test]
fn a_disk_image_is_mounted_checked_copied_with_ditto_swapped_and_detached() {
    let p = plan(&target(
        Path::new("/Users/anna/Library/Wizard/downloads/wizard-2.1.0-macos-universal.dmg"),
        "wizard-2.1.0-macos-universal.dmg",
        Path::new("/Applications/Wizard.app"),
        Path::new("/Users/anna/Library/Wizard"),
    ))
    .unwrap();
    let mount = Path::new("/Users/anna/Library/Wizard/relops-mount");
    let new = PathBuf::from("/Applications/.Wizard.app.relops-new");
    let old = PathBuf::from("/Applications/.Wizard.app.relops-old");
    assert_eq!(p.steps[0], Step::Remove { path: new.clone() });
    assert_eq!(p.steps[1], Step::Remove { path: old.clone() });
    assert_eq!(
        run_args(&p.steps[2]),
        (
            "/usr/bin/hdiutil",
            vec![
                "attach",
                "-nobrowse",
                "-readonly",
                "-noautoopen",
                "-mountpoint",
                "/Users/anna/Library/Wizard/relops-mount",
                "/Users/anna/Library/Wizard/downloads/wizard-2.1.0-macos-universal.dmg"
            ]
        )
    );
    assert_eq!(
        p.steps[3],
        Step::SameSigner {
            new: mount.join("Wizard.app"),
            installed: "/Applications/Wizard.app".into()
        }
    );
    assert_eq!(
        run_args(&p.steps[4]),
        (
            "/usr/bin/ditto",
            vec![
                "/Users/anna/Library/Wizard/relops-mount/Wizard.app",
                "/Applications/.Wizard.app.relops-new"
            ]
        )
    );
    assert_eq!(
        p.steps[5],
        Step::Swap {
            new,
            path: "/Applications/Wizard.app".into(),
            backup: old.clone()
        }
    );
    assert_eq!(p.steps[6], Step::Remove { path: old });
    assert_eq!(p.steps.len(), 7);
    assert_eq!(
        run_args(&p.finally[0]),
        (
            "/usr/bin/hdiutil",
            vec![
                "detach",
                "/Users/anna/Library/Wizard/relops-mount",
                "-force"
            ]
        )
    );
    // The plan is what an installer helper can run: it serialises.
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["steps"][3]["step"], "same_signer");
}

#[test]
fn a_zipped_app_is_unpacked_with_ditto_checked_and_swapped() {
    let p = plan(&target(
        Path::new("/tmp/d/wizard-2.1.0-macos-universal.zip"),
        "wizard-2.1.0-macos-universal.zip",
        Path::new("/Applications/Wizard.app"),
        Path::new("/tmp/d"),
    ))
    .unwrap();
    assert_eq!(
        run_args(&p.steps[2]),
        (
            "/usr/bin/ditto",
            vec![
                "-x",
                "-k",
                "/tmp/d/wizard-2.1.0-macos-universal.zip",
                "/Applications/.Wizard.app.relops-unpacked"
            ]
        )
    );
    assert!(
        matches!(&p.steps[3], Step::SameSigner { new, .. } if new == Path::new("/Applications/.Wizard.app.relops-unpacked/Wizard.app"))
    );
    assert!(matches!(&p.steps[4], Step::Swap { .. }));
    assert_eq!(
        p.finally,
        [Step::Remove {
            path: "/Applications/.Wizard.app.relops-unpacked".into()
        }]
    );
}

#[test]
fn the_team_id_is_read_from_codesign_output() {
    let signed = "Executable=/Applications/Wizard.app/Contents/MacOS/Wizard\nIdentifier=com.example.wizard\nFormat=app bundle with Mach-O universal (x86_64 arm64)\nAuthority=Developer ID Application: Example GmbH (ABCDE12345)\nTeamIdentifier=ABCDE12345\n";
    assert_eq!(team_id(signed), Some("ABCDE12345"));
    assert_eq!(team_id("Signature=adhoc\nTeamIdentifier=not set\n"), None);
    assert_eq!(team_id("code object is not signed at all\n"), None);
}

/// A tar.gz made with the tar crate; `raw` entries are written with their names as given
/// (the crate refuses `..` in names it sets itself).
fn tar_gz(
    path: &Path,
    files: &[(&str, &[u8], u32)],
    links: &[(&str, &str)],
    raw: &[(&str, &[u8])],
) {
    let f = std::fs::File::create(path).unwrap();
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        f,
        flate2::Compression::fast(),
    ));
    for (name, bytes, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, name, *bytes).unwrap();
    }
    for (name, to) in links {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, name, to).unwrap();
    }
    for (name, bytes) in raw {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        b.append(&h, *bytes).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_tar_gz_replaces_the_installed_directory() {
    let d = tempfile::tempdir().unwrap();
    let installed = d.path().join("opt").join("wizard");
    std::fs::create_dir_all(&installed).unwrap();
    std::fs::write(installed.join("only-in-2.0.txt"), "old").unwrap();
    let staged = d.path().join("wizard-2.1.0-linux-x64.tar.gz");
    tar_gz(
        &staged,
        &[
            ("wizard-2.1.0/bin/wizard", b"#!/bin/sh\necho 2.1.0\n", 0o755),
            ("wizard-2.1.0/share/readme.txt", b"2.1.0", 0o4644),
        ],
        &[("wizard-2.1.0/wizard", "bin/wizard")],
        &[],
    );
    let p = plan(&target(
        &staged,
        "wizard-2.1.0-linux-x64.tar.gz",
        &installed,
        d.path(),
    ))
    .unwrap();
    assert_eq!(
        execute(&p).unwrap(),
        Installed {
            restart_needed: false
        }
    );
    assert_eq!(
        names(&installed),
        ["bin", "share", "wizard"],
        "the top directory's contents"
    );
    assert_eq!(mode(&installed.join("bin/wizard")), 0o755);
    assert_eq!(
        mode(&installed.join("share/readme.txt")) & 0o7000,
        0,
        "no set-user-id"
    );
    let out = std::process::Command::new(installed.join("wizard"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2.1.0\n",
        "runs through the link"
    );
    assert_eq!(
        names(&d.path().join("opt")),
        ["wizard"],
        "no backup or new copy left"
    );

    // A first install (nothing there yet) works too.
    std::fs::remove_dir_all(&installed).unwrap();
    execute(&p).unwrap();
    assert!(installed.join("bin/wizard").exists());
}

#[test]
fn a_tar_gz_that_reaches_outside_is_refused_and_the_install_stays() {
    let d = tempfile::tempdir().unwrap();
    let installed = d.path().join("opt").join("wizard");
    std::fs::create_dir_all(&installed).unwrap();
    std::fs::write(installed.join("wizard"), "2.0.0").unwrap();
    type Links<'a> = &'a [(&'a str, &'a str)];
    type Raw<'a> = &'a [(&'a str, &'a [u8])];
    let cases: [(&str, Links, Raw); 3] = [
        ("dotdot", &[], &[("wizard/../../evil", b"x")]),
        ("absolute link", &[("wizard/lib", "/etc")], &[]),
        ("link out", &[("wizard/lib", "../../../etc")], &[]),
    ];
    for (what, links, raw) in cases {
        let staged = d.path().join(format!("{}.tar.gz", what.replace(' ', "-")));
        tar_gz(&staged, &[("wizard/bin", b"x", 0o755)], links, raw);
        let p = plan(&target(
            &staged,
            "wizard-2.1.0-linux-x64.tar.gz",
            &installed,
            d.path(),
        ))
        .unwrap();
        let e = execute(&p).unwrap_err();
        assert!(
            matches!(&e, Error::Install { why, .. } if why.contains("outside the install directory")),
            "{what}: {e}"
        );
        assert_eq!(
            std::fs::read_to_string(installed.join("wizard")).unwrap(),
            "2.0.0",
            "{what}"
        );
        assert_eq!(
            names(&d.path().join("opt")),
            ["wizard"],
            "{what}: nothing left beside it"
        );
        assert!(!d.path().join("evil").exists());
    }
    // Not a gzip at all.
    let staged = d.path().join("broken.tar.gz");
    std::fs::write(&staged, b"not gzip").unwrap();
    let p = plan(&target(
        &staged,
        "wizard-2.1.0-linux-x64.tar.gz",
        &installed,
        d.path(),
    ))
    .unwrap();
    assert!(matches!(execute(&p), Err(Error::Install { .. })));
    assert_eq!(
        std::fs::read_to_string(installed.join("wizard")).unwrap(),
        "2.0.0"
    );
    assert_eq!(names(&d.path().join("opt")), ["wizard"]);
}

#[test]
fn an_appimage_is_replaced_executable() {
    let d = tempfile::tempdir().unwrap();
    let installed = d.path().join("Wizard.AppImage");
    std::fs::write(&installed, "#!/bin/sh\necho 2.0.0\n").unwrap();
    std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o755)).unwrap();
    let staged = d.path().join("staged.AppImage");
    std::fs::write(&staged, "#!/bin/sh\necho 2.1.0\n").unwrap();
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600)).unwrap();
    let p = plan(&target(
        &staged,
        "wizard-2.1.0-linux-x64.AppImage",
        &installed,
        d.path(),
    ))
    .unwrap();
    execute(&p).unwrap();
    assert_eq!(mode(&installed), 0o755);
    let out = std::process::Command::new(&installed).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2.1.0\n");
    assert_eq!(names(d.path()), ["Wizard.AppImage", "staged.AppImage"]);
}

#[test]
fn a_failed_command_says_whether_to_retry_and_the_finally_steps_still_run() {
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("mounted");
    std::fs::write(&marker, "").unwrap();
    let p = Plan {
        kind: "msi".into(),
        steps: vec![
            Step::Run {
                what: "an installer".into(),
                program: "sh".into(),
                args: vec!["-c".into(), "echo busy >&2; exit 7".into()],
                ok: vec![0],
                restart: vec![],
                retry: vec![7],
            },
            Step::Remove {
                path: d.path().join("never"),
            },
        ],
        finally: vec![Step::Remove {
            path: marker.clone(),
        }],
    };
    match execute(&p) {
        Err(Error::Install { step, why, retry }) => {
            assert_eq!(step, "an installer");
            assert!(why.contains("exited with 7: busy"), "{why}");
            assert!(retry);
        }
        other => panic!("{other:?}"),
    }
    assert!(!marker.exists(), "finally ran");
    let restart = Plan {
        kind: "msi".into(),
        steps: vec![Step::Run {
            what: "an installer".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "exit 3010".into()],
            ok: vec![0],
            restart: vec![3010 % 256],
            retry: vec![],
        }],
        finally: vec![],
    };
    assert_eq!(
        execute(&restart).unwrap(),
        Installed {
            restart_needed: true
        }
    );
}
