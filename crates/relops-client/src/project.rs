//! Versioned project files (R-RB-7): a file starts with a header line naming its format and
//! the schema it was written with (`WZP 7\n`), the app keeps a registry of migrations — each
//! step up from schema N to N+1 with its way back down — and [`Migrations::open`] decides
//! what the app may do with a file:
//!
//! | the file's schema | mode |
//! |---|---|
//! | the app's | [`Mode::ReadWrite`] |
//! | older, every step up registered | [`Mode::Migrated`] (the body returned is the app's schema) |
//! | older, a step missing | refused ([`ProjectError::TooOld`]) |
//! | newer than the app knows | [`Mode::ReadOnly`]: show it, offer export, never save over it |
//!
//! Before a rollback installs an older release, [`Migrations::downgrade`] brings a file down
//! to the schema that release reads (the feed signs it: [`crate::Update::data_schema`]).
//! `examples/wzp/` holds a sample format and the test runs on it.

use std::collections::BTreeMap;

type Step = Box<dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// What the app may do with a file it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Written with the app's schema.
    ReadWrite,
    /// Written with an older schema and migrated up (save writes the app's schema).
    Migrated { from: u32 },
    /// Written by a newer release: open read-only and offer export; saving would lose what
    /// this release does not know.
    ReadOnly { file_schema: u32 },
}

/// A file opened: its mode and its body (in the app's schema unless read-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub mode: Mode,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectError {
    #[error("not a {format} file: it does not start with `{format} <schema>`")]
    NoHeader { format: String },
    #[error(
        "the file was written with schema {file}, which this version cannot migrate from (no step {missing} → {next})"
    )]
    TooOld { file: u32, missing: u32, next: u32 },
    #[error("schema {from} cannot be brought down to {to}: no down-migration {step} → {prev}")]
    NoWayDown {
        from: u32,
        to: u32,
        step: u32,
        prev: u32,
    },
    #[error("migration {from} → {to} failed: {why}")]
    Step { from: u32, to: u32, why: String },
}

/// The app's schema and its migrations for one file format.
pub struct Migrations {
    format: String,
    schema: u32,
    /// `n` → (up from n to n+1, down from n+1 to n).
    steps: BTreeMap<u32, (Step, Step)>,
}

impl std::fmt::Debug for Migrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrations")
            .field("format", &self.format)
            .field("schema", &self.schema)
            .field("steps", &self.steps.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Migrations {
    /// The format's header word (`WZP`) and the schema this release writes.
    pub fn new(format: &str, schema: u32) -> Self {
        Self {
            format: format.to_owned(),
            schema,
            steps: BTreeMap::new(),
        }
    }

    /// Registers the step from `from` to `from + 1` and its way back.
    pub fn step(
        mut self,
        from: u32,
        up: impl Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync + 'static,
        down: impl Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) -> Self {
        self.steps.insert(from, (Box::new(up), Box::new(down)));
        self
    }

    /// The schema this release writes.
    pub fn schema(&self) -> u32 {
        self.schema
    }

    /// The oldest schema the down-migrations reach from the app's: what the release
    /// declares with `relops release create --downgrades-to`.
    pub fn downgrades_to(&self) -> u32 {
        let mut s = self.schema;
        while s > 0 && self.steps.contains_key(&(s - 1)) {
            s -= 1;
        }
        s
    }

    /// Splits a file into its schema and body.
    pub fn read_header<'a>(&self, file: &'a [u8]) -> Result<(u32, &'a [u8]), ProjectError> {
        let no = || ProjectError::NoHeader {
            format: self.format.clone(),
        };
        let nl = file.iter().position(|b| *b == b'\n').ok_or_else(no)?;
        let line = std::str::from_utf8(&file[..nl]).map_err(|_| no())?;
        let (word, schema) = line.trim_end_matches('\r').split_once(' ').ok_or_else(no)?;
        if word != self.format {
            return Err(no());
        }
        let schema = schema.trim().parse().map_err(|_| no())?;
        Ok((schema, &file[nl + 1..]))
    }

    /// A file of `schema` holding `body`.
    pub fn write(&self, schema: u32, body: &[u8]) -> Vec<u8> {
        let mut out = format!("{} {schema}\n", self.format).into_bytes();
        out.extend_from_slice(body);
        out
    }

    /// Opens a file: decides its mode and migrates an older one up (see the table above).
    pub fn open(&self, file: &[u8]) -> Result<Opened, ProjectError> {
        let (schema, body) = self.read_header(file)?;
        if schema > self.schema {
            return Ok(Opened {
                mode: Mode::ReadOnly {
                    file_schema: schema,
                },
                body: body.to_vec(),
            });
        }
        let mut body = body.to_vec();
        for from in schema..self.schema {
            let (up, _) = self.steps.get(&from).ok_or(ProjectError::TooOld {
                file: schema,
                missing: from,
                next: from + 1,
            })?;
            body = up(&body).map_err(|why| ProjectError::Step {
                from,
                to: from + 1,
                why,
            })?;
        }
        Ok(Opened {
            mode: if schema == self.schema {
                Mode::ReadWrite
            } else {
                Mode::Migrated { from: schema }
            },
            body,
        })
    }

    /// Brings a file down to schema `to` (before installing a release that reads `to`),
    /// returning the whole file with its new header. A file at or below `to` is returned
    /// as it is.
    pub fn downgrade(&self, file: &[u8], to: u32) -> Result<Vec<u8>, ProjectError> {
        let (schema, body) = self.read_header(file)?;
        let mut body = body.to_vec();
        let mut at = schema;
        while at > to {
            let (_, down) = self.steps.get(&(at - 1)).ok_or(ProjectError::NoWayDown {
                from: schema,
                to,
                step: at,
                prev: at - 1,
            })?;
            body = down(&body).map_err(|why| ProjectError::Step {
                from: at,
                to: at - 1,
                why,
            })?;
            at -= 1;
        }
        Ok(self.write(at, &body))
    }
}

#[cfg(test)]
mod tests;
