//! One leader per deployment for background work (issue 28 part 3): on PostgreSQL a
//! session-level advisory lock held on a connection of its own; the database releases it
//! when that connection ends (the process died, the network broke), and another replica's
//! next try takes it. An SQLite deployment is one process: it always leads.

use sqlx::{AnyConnection, Row};

use crate::pool::Db;
use crate::sql::{Backend, Result};

/// The advisory lock's key: "relops" in ASCII, so other users of the database are unlikely
/// to pick it.
const LOCK_KEY: i64 = 0x7265_6c6f_7073;

/// This process's claim to lead.
#[derive(Debug)]
pub struct LeaderLock {
    db: Db,
    /// The connection holding the lock while this process leads.
    held: Option<AnyConnection>,
}

impl LeaderLock {
    pub fn new(db: &Db) -> Self {
        Self {
            db: db.clone(),
            held: None,
        }
    }

    /// Whether this process leads now: keeps the lock while its connection answers, or
    /// tries to take it. A lost connection loses the lead (the database released the lock).
    pub async fn hold(&mut self) -> Result<bool> {
        if self.db.backend() == Backend::Sqlite {
            return Ok(true);
        }
        if let Some(conn) = &mut self.held {
            if sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok() {
                return Ok(true);
            }
            self.held = None;
        }
        let mut conn = self.db.pool.acquire().await?.detach();
        let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1) AS got")
            .bind(LOCK_KEY)
            .fetch_one(&mut conn)
            .await?
            .try_get("got")?;
        if got {
            self.held = Some(conn);
        }
        Ok(got)
    }
}
