//! Installing a staged update (R-AUTO-2): what it takes on each platform, as a [`Plan`] of
//! plain steps — the exact commands with their arguments, and the file operations — built
//! by a pure function ([`plan`]) and carried out by [`execute`].
//!
//! - **Windows, MSI**: `msiexec.exe /i PACKAGE /qn /norestart /l*v LOG`; exit 0 is done,
//!   3010 and 1641 are done with a restart needed, 1618 (another installation runs) is
//!   worth retrying. Installing a lower version (a rollback) needs a package built to allow
//!   it (WiX `MajorUpgrade AllowDowngrades="yes"`).
//! - **Windows, MSIX**: PowerShell's `Add-AppxPackage -Path PACKAGE
//!   -ForceApplicationShutdown`, with `-ForceUpdateFromAnyVersion` for a rollback.
//! - **macOS, disk image**: `hdiutil attach` it read-only at a private mount point; check
//!   the new `.app`'s code signature (`codesign --verify --deep --strict`) and that its Team
//!   ID is the installed app's; copy it next to the installed one with `ditto` (which keeps
//!   the signature, extended attributes and resource forks that `cp` may lose); swap the two
//!   by renames; detach the image whatever happened.
//! - **macOS, zip** (Sparkle's format): `ditto -x -k` it next to the installed app, then the
//!   same signature check and swap.
//! - **Linux, AppImage**: copy it next to the installed one (mode 0755, synced) and swap.
//! - **Linux, tar.gz**: unpack it next to the installed directory — refusing an entry that
//!   would land outside it (`..`, an absolute path, a link pointing out) — and swap; an
//!   archive whose entries all sit in one top directory (`wizard-2.1.0/…`) installs that
//!   directory's contents.
//!
//! A swap renames the installed copy to a backup and the new one into its place, both in
//! the same directory (one file system, so each rename is atomic); if the second rename
//! fails the backup goes back. The backup is removed last. Leftovers of an interrupted
//! earlier run are removed first. Nothing here elevates privileges: installing into a
//! location the app cannot write is the app's installer helper's job, which can run the
//! same plan (it serialises to JSON).

mod run;

use std::path::{Path, PathBuf};

use relops_core::artifact::ArtifactKind;
use serde::Serialize;

use crate::Error;
pub use run::{Installed, execute, team_id};

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Run `program` with `args` (no shell). Exit codes in `ok` are success, in `restart`
    /// success with a restart needed, in `retry` a failure worth retrying later.
    Run {
        what: String,
        program: String,
        args: Vec<String>,
        ok: Vec<i32>,
        restart: Vec<i32>,
        retry: Vec<i32>,
    },
    /// The `.app` at `new` is validly signed, by the same team as the one at `installed`.
    SameSigner { new: PathBuf, installed: PathBuf },
    /// Unpack the tar.gz `archive` into the directory `into` (made here).
    UnpackTarGz { archive: PathBuf, into: PathBuf },
    /// Copy `from` to `to` as an executable file (0755), synced.
    CopyExecutable { from: PathBuf, to: PathBuf },
    /// `path` becomes `backup`, `new` becomes `path` (restored on failure).
    Swap {
        new: PathBuf,
        path: PathBuf,
        backup: PathBuf,
    },
    /// Remove a file or directory tree if it exists.
    Remove { path: PathBuf },
}

/// What installing one staged update takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub kind: String,
    /// Done in order; the first failure stops them.
    pub steps: Vec<Step>,
    /// Done after the steps, whether they succeeded or not (detaching a disk image).
    pub finally: Vec<Step>,
}

/// What to install where.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The staged, verified package ([`crate::Updater::download`]).
    pub staged: &'a Path,
    /// The feed's target name (its extension says the kind).
    pub target_name: &'a str,
    /// The installed app: the `.app` bundle (macOS), the AppImage file or the directory a
    /// tar.gz was unpacked into (Linux); unused for MSI and MSIX, which Windows places.
    pub installed: &'a Path,
    /// A rollback: the package is older than what runs.
    pub downgrade: bool,
    /// Where the installer writes its log (msiexec), and private mount points go.
    pub work_dir: &'a Path,
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A hidden sibling of `path`: `.{name}.relops-{what}` in the same directory.
fn sibling(path: &Path, what: &str) -> Result<PathBuf, Error> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::Config(format!("{} names no file or directory", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(dir.join(format!(".{}.relops-{what}", name.to_string_lossy())))
}

/// A PowerShell single-quoted string: the only character to escape is `'`, by doubling it.
pub fn powershell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The swap of `new` into `installed`, the backup's removal, and the removal of what an
/// interrupted earlier run left.
fn swap_steps(new: PathBuf, installed: &Path) -> Result<(Vec<Step>, Vec<Step>), Error> {
    let backup = sibling(installed, "old")?;
    let before = vec![
        Step::Remove { path: new.clone() },
        Step::Remove {
            path: backup.clone(),
        },
    ];
    let after = vec![
        Step::Swap {
            new,
            path: installed.to_path_buf(),
            backup: backup.clone(),
        },
        Step::Remove { path: backup },
    ];
    Ok((before, after))
}

/// The plan that installs `t`.
pub fn plan(t: &Target<'_>) -> Result<Plan, Error> {
    let kind = ArtifactKind::from_name(t.target_name)
        .map_err(|e| Error::Config(format!("{}: {e}", t.target_name)))?;
    let mut steps = Vec::new();
    let mut finally = Vec::new();
    match kind {
        ArtifactKind::Exe | ArtifactKind::Nupkg => {
            return Err(Error::Config(format!(
                "{}: the SDK does not install a .{kind} (it is for electron-updater or Velopack); \
                 upload a .msi, .msix, .dmg, .zip, .tar.gz or .AppImage for SDK installs",
                t.target_name
            )));
        }
        ArtifactKind::Msi => {
            let log = t.work_dir.join("msiexec.log");
            steps.push(Step::Run {
                what: "Windows Installer (msiexec)".into(),
                program: "msiexec.exe".into(),
                args: vec![
                    "/i".into(),
                    s(t.staged),
                    "/qn".into(),
                    "/norestart".into(),
                    "/l*v".into(),
                    s(&log),
                ],
                ok: vec![0],
                // ERROR_SUCCESS_REBOOT_REQUIRED, ERROR_SUCCESS_REBOOT_INITIATED
                restart: vec![3010, 1641],
                // ERROR_INSTALL_ALREADY_RUNNING
                retry: vec![1618],
            });
        }
        ArtifactKind::Msix => {
            let mut command = format!(
                "Add-AppxPackage -Path {} -ForceApplicationShutdown",
                powershell_quote(&s(t.staged))
            );
            if t.downgrade {
                command.push_str(" -ForceUpdateFromAnyVersion");
            }
            steps.push(Step::Run {
                what: "App Installer (Add-AppxPackage)".into(),
                program: "powershell.exe".into(),
                args: vec![
                    "-NoProfile".into(),
                    "-NonInteractive".into(),
                    "-ExecutionPolicy".into(),
                    "Bypass".into(),
                    "-Command".into(),
                    command,
                ],
                ok: vec![0],
                restart: vec![],
                retry: vec![],
            });
        }
        ArtifactKind::Dmg => {
            let app = t
                .installed
                .file_name()
                .ok_or_else(|| Error::Config(format!("{} names no .app", t.installed.display())))?;
            let mount = t.work_dir.join("relops-mount");
            let new = sibling(t.installed, "new")?;
            let (before, after) = swap_steps(new.clone(), t.installed)?;
            steps.extend(before);
            steps.push(Step::Run {
                what: "mounting the disk image (hdiutil)".into(),
                program: "/usr/bin/hdiutil".into(),
                args: vec![
                    "attach".into(),
                    "-nobrowse".into(),
                    "-readonly".into(),
                    "-noautoopen".into(),
                    "-mountpoint".into(),
                    s(&mount),
                    s(t.staged),
                ],
                ok: vec![0],
                restart: vec![],
                retry: vec![],
            });
            steps.push(Step::SameSigner {
                new: mount.join(app),
                installed: t.installed.to_path_buf(),
            });
            steps.push(ditto(&[s(&mount.join(app)), s(&new)]));
            steps.extend(after);
            finally.push(Step::Run {
                what: "detaching the disk image (hdiutil)".into(),
                program: "/usr/bin/hdiutil".into(),
                args: vec!["detach".into(), s(&mount), "-force".into()],
                ok: vec![0],
                restart: vec![],
                retry: vec![],
            });
        }
        ArtifactKind::Zip => {
            // A zip of the .app (Sparkle's format): unpacked next to the installed app,
            // into a directory, whose .app of the installed one's name is swapped in.
            let app = t
                .installed
                .file_name()
                .ok_or_else(|| Error::Config(format!("{} names no .app", t.installed.display())))?;
            let unpacked = sibling(t.installed, "unpacked")?;
            let new = unpacked.join(app);
            let backup = sibling(t.installed, "old")?;
            steps.push(Step::Remove {
                path: unpacked.clone(),
            });
            steps.push(Step::Remove {
                path: backup.clone(),
            });
            steps.push(ditto(&[
                "-x".into(),
                "-k".into(),
                s(t.staged),
                s(&unpacked),
            ]));
            steps.push(Step::SameSigner {
                new: new.clone(),
                installed: t.installed.to_path_buf(),
            });
            steps.push(Step::Swap {
                new,
                path: t.installed.to_path_buf(),
                backup: backup.clone(),
            });
            steps.push(Step::Remove { path: backup });
            finally.push(Step::Remove { path: unpacked });
        }
        ArtifactKind::AppImage => {
            let new = sibling(t.installed, "new")?;
            let (before, after) = swap_steps(new.clone(), t.installed)?;
            steps.extend(before);
            steps.push(Step::CopyExecutable {
                from: t.staged.to_path_buf(),
                to: new,
            });
            steps.extend(after);
        }
        ArtifactKind::TarGz => {
            let new = sibling(t.installed, "new")?;
            let (before, after) = swap_steps(new.clone(), t.installed)?;
            steps.extend(before);
            steps.push(Step::UnpackTarGz {
                archive: t.staged.to_path_buf(),
                into: new,
            });
            steps.extend(after);
        }
    }
    Ok(Plan {
        kind: kind.as_str().to_owned(),
        steps,
        finally,
    })
}

fn ditto(args: &[String]) -> Step {
    Step::Run {
        what: "copying the app with its signature (ditto)".into(),
        program: "/usr/bin/ditto".into(),
        args: args.to_vec(),
        ok: vec![0],
        restart: vec![],
        retry: vec![],
    }
}

#[cfg(all(test, unix))]
mod tests;
