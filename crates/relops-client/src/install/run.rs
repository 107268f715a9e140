//! Carrying out a [`Plan`]: each step, then the `finally` steps whatever happened.

use std::io::Read;
use std::path::{Component, Path};
use std::process::Command;

use super::{Plan, Step};
use crate::Error;

/// What an installation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installed {
    /// The installer asks for a restart of the machine (msiexec 3010, 1641).
    pub restart_needed: bool,
}

/// Runs `plan`'s steps in order (the first failure stops them), then its `finally` steps.
/// On failure, what was installed before stays in place.
pub fn execute(plan: &Plan) -> Result<Installed, Error> {
    let mut restart_needed = false;
    let mut result = Ok(());
    for step in &plan.steps {
        match run(step) {
            Ok(restart) => restart_needed |= restart,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    for step in &plan.finally {
        if let Err(e) = run(step)
            && result.is_ok()
        {
            result = Err(e);
        }
    }
    result.map(|()| Installed { restart_needed })
}

fn fail(step: &str, why: impl std::fmt::Display) -> Error {
    Error::Install {
        step: step.to_owned(),
        why: why.to_string(),
        retry: false,
    }
}

/// One step; `Ok(true)`: done, and the machine needs a restart.
fn run(step: &Step) -> Result<bool, Error> {
    match step {
        Step::Run {
            what,
            program,
            args,
            ok,
            restart,
            retry,
        } => {
            let out = Command::new(program)
                .args(args)
                .output()
                .map_err(|e| fail(what, format!("cannot run {program}: {e}")))?;
            let code = out.status.code().unwrap_or(-1);
            if ok.contains(&code) {
                Ok(false)
            } else if restart.contains(&code) {
                Ok(true)
            } else {
                let stderr = String::from_utf8_lossy(&out.stderr);
                Err(Error::Install {
                    step: what.clone(),
                    why: format!("{program} exited with {code}: {}", stderr.trim()),
                    retry: retry.contains(&code),
                })
            }
        }
        Step::SameSigner { new, installed } => {
            let what = "checking the new app's code signature (codesign)";
            let verify = Command::new("/usr/bin/codesign")
                .args(["--verify", "--deep", "--strict"])
                .arg(new)
                .output()
                .map_err(|e| fail(what, e))?;
            if !verify.status.success() {
                return Err(fail(
                    what,
                    format!(
                        "{} is not validly signed: {}",
                        new.display(),
                        String::from_utf8_lossy(&verify.stderr).trim()
                    ),
                ));
            }
            let team = |app: &Path| -> Result<Option<String>, Error> {
                let out = Command::new("/usr/bin/codesign")
                    .args(["-d", "--verbose=2"])
                    .arg(app)
                    .output()
                    .map_err(|e| fail(what, e))?;
                // codesign writes the details to stderr.
                Ok(team_id(&String::from_utf8_lossy(&out.stderr)).map(str::to_owned))
            };
            match (team(new)?, team(installed)?) {
                (Some(a), Some(b)) if a == b => Ok(false),
                (a, b) => Err(fail(
                    what,
                    format!(
                        "the new app is signed by team {}, the installed one by {}: not installed",
                        a.as_deref().unwrap_or("(none)"),
                        b.as_deref().unwrap_or("(none)")
                    ),
                )),
            }
        }
        Step::UnpackTarGz { archive, into } => {
            unpack_tar_gz(archive, into).inspect_err(|_| {
                let _ = std::fs::remove_dir_all(into);
            })?;
            Ok(false)
        }
        Step::CopyExecutable { from, to } => {
            use std::io::Write;
            let what = "copying the new version";
            let mut src = std::fs::File::open(from).map_err(Error::io(from))?;
            let mut dst = std::fs::File::create(to).map_err(Error::io(to))?;
            let mut buf = vec![0; 1 << 20];
            loop {
                let n = src.read(&mut buf).map_err(Error::io(from))?;
                if n == 0 {
                    break;
                }
                dst.write_all(&buf[..n]).map_err(Error::io(to))?;
            }
            set_executable(&dst).map_err(|e| fail(what, e))?;
            dst.sync_all().map_err(Error::io(to))?;
            Ok(false)
        }
        Step::Swap { new, path, backup } => {
            let what = "putting the new version in place";
            let had = path.symlink_metadata().is_ok();
            if had {
                std::fs::rename(path, backup).map_err(|e| {
                    fail(what, format!("cannot move {} aside: {e}", path.display()))
                })?;
            }
            if let Err(e) = std::fs::rename(new, path) {
                if had {
                    let _ = std::fs::rename(backup, path);
                }
                return Err(fail(
                    what,
                    format!("cannot move the new version to {}: {e}", path.display()),
                ));
            }
            if let Some(dir) = path.parent()
                && let Ok(d) = std::fs::File::open(dir)
            {
                let _ = d.sync_all();
            }
            Ok(false)
        }
        Step::Remove { path } => {
            match path.symlink_metadata() {
                Err(_) => {}
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(path).map_err(Error::io(path))?,
                Ok(_) => std::fs::remove_file(path).map_err(Error::io(path))?,
            }
            Ok(false)
        }
    }
}

#[cfg(unix)]
fn set_executable(f: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

/// The Team ID in `codesign -d --verbose=2` output (`TeamIdentifier=ABCDE12345`); `None`
/// for an ad-hoc or unsigned app (`TeamIdentifier=not set`).
pub fn team_id(codesign_output: &str) -> Option<&str> {
    codesign_output
        .lines()
        .find_map(|l| l.trim().strip_prefix("TeamIdentifier="))
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "not set")
}

/// A path inside the archive that stays inside the directory it is unpacked into.
fn inside(p: &Path) -> bool {
    p.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Unpacks `archive` into `into` (made here), refusing the whole archive if one entry would
/// land outside it; an archive whose entries all sit in one top directory has that
/// directory's contents unpacked.
fn unpack_tar_gz(archive: &Path, into: &Path) -> Result<(), Error> {
    let what = "unpacking the tar.gz";
    let open = || -> Result<tar::Archive<flate2::read::GzDecoder<std::fs::File>>, Error> {
        let f = std::fs::File::open(archive).map_err(Error::io(archive))?;
        Ok(tar::Archive::new(flate2::read::GzDecoder::new(f)))
    };
    // First pass: check every entry, and find a common top directory.
    let mut firsts = std::collections::BTreeSet::new();
    let mut top_level_file = false;
    let mut a = open()?;
    for e in a.entries().map_err(|e| fail(what, e))? {
        let e = e.map_err(|e| fail(what, e))?;
        let path = e.path().map_err(|e| fail(what, e))?.into_owned();
        if !inside(&path) {
            return Err(fail(
                what,
                format!(
                    "entry {} would land outside the install directory",
                    path.display()
                ),
            ));
        }
        let kind = e.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink() || kind.is_hard_link()) {
            return Err(fail(
                what,
                format!(
                    "entry {} is neither a file, a directory nor a link",
                    path.display()
                ),
            ));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = e
                .link_name()
                .map_err(|e| fail(what, e))?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let base = if kind.is_hard_link() {
                Path::new("")
            } else {
                path.parent().unwrap_or(Path::new(""))
            };
            if !stays_inside(base, &target) {
                return Err(fail(
                    what,
                    format!(
                        "link {} points outside the install directory ({})",
                        path.display(),
                        target.display()
                    ),
                ));
            }
        }
        let mut normal = path
            .components()
            .filter(|c| matches!(c, Component::Normal(_)));
        if let Some(first) = normal.next() {
            firsts.insert(first.as_os_str().to_owned());
            if normal.next().is_none() && !kind.is_dir() {
                top_level_file = true;
            }
        }
    }
    std::fs::create_dir(into).map_err(Error::io(into))?;
    let mut a = open()?;
    // Mode bits are kept (executables stay executable), set-user-id and the like are not.
    a.set_overwrite(false);
    a.unpack(into).map_err(|e| fail(what, e))?;
    if firsts.len() == 1 && !top_level_file {
        // One top directory: its contents are the install.
        let inner = into.join(firsts.first().expect("one"));
        let lifted = into.with_extension("lift");
        let _ = std::fs::remove_dir_all(&lifted);
        std::fs::rename(&inner, &lifted).map_err(Error::io(&inner))?;
        std::fs::remove_dir(into).map_err(Error::io(into))?;
        std::fs::rename(&lifted, into).map_err(Error::io(into))?;
    }
    Ok(())
}

/// Whether `target`, taken relative to `base` (a directory inside the archive), stays
/// inside the archive's root.
fn stays_inside(base: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = base
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count() as i64;
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::CurDir => {}
            _ => return false,
        }
    }
    true
}
