//! The knowledge base's revisions as a Git repository (playbook §6: document revisions):
//! every revision of an article is a commit of `{product}/{id}.md` by the person who wrote
//! it, so `git log` in `[support] kb_repository` shows who changed what and when. The
//! database is the source of truth; a failed commit is logged and the next revision of
//! the article writes its whole file again.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use git2::{Repository, Signature};

/// The repository, written by one thread at a time.
#[derive(Debug)]
pub(crate) struct KbRepo {
    path: PathBuf,
    lock: Mutex<()>,
}

impl KbRepo {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    /// Writes `{product}/{id}.md` with `content` and commits it as `author` with `message`;
    /// the commit's id.
    pub(crate) fn commit(
        &self,
        product: &str,
        id: &str,
        content: &str,
        author: &str,
        message: &str,
    ) -> Result<String, git2::Error> {
        let _one = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let repo = match Repository::open(&self.path) {
            Ok(r) => r,
            Err(_) => Repository::init(&self.path)?,
        };
        let rel = PathBuf::from(product).join(format!("{id}.md"));
        let file = self.path.join(&rel);
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| git2::Error::from_str(&e.to_string()))?;
        }
        std::fs::write(&file, content).map_err(|e| git2::Error::from_str(&e.to_string()))?;
        let mut index = repo.index()?;
        index.add_path(Path::new(&rel))?;
        index.write()?;
        let tree = repo.find_tree(index.write_tree()?)?;
        // A person's name; the address is a placeholder (relops knows token names only).
        let email = format!(
            "{}@relops.invalid",
            author
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                })
                .collect::<String>()
        );
        let sig = Signature::now(author, &email)?;
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let oid = repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?;
        Ok(oid.to_string())
    }
}
