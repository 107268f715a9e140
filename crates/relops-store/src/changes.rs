//! Feed changes told to every replica at once (issue 28 part 2): on PostgreSQL the
//! transaction that stores a product's new feed metadata also sends
//! `NOTIFY relops_feed, 'product'` (delivered at commit, so never before the rows are
//! readable), and each replica listens on a connection of its own. Notifications are not
//! stored: one sent while a listener's connection was down is lost, so a reconnect is
//! reported as [`FeedChange::Missed`] and the listener's owner reloads every product; the
//! periodic refresh remains the last fallback. SQLite is one process: nothing to tell.

use sqlx::postgres::PgListener;

use crate::pool::Db;
use crate::sql::Result;

/// The channel the feed's changes are announced on.
pub(crate) const FEED_CHANNEL: &str = "relops_feed";

/// A database URL, which may hold a password: never printed.
#[derive(Clone)]
pub(crate) struct Url(pub(crate) String);

impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Url(…)")
    }
}

/// What a [`FeedListener`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedChange {
    /// A replica stored new metadata for this product.
    Product(String),
    /// The connection was lost and re-made: changes may have been missed.
    Missed,
}

/// A replica's ear on the feed's changes (PostgreSQL only).
pub struct FeedListener(PgListener);

impl std::fmt::Debug for FeedListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedListener")
    }
}

impl FeedListener {
    /// Listens for feed changes; `None` on SQLite, where one process makes every change.
    pub async fn connect(db: &Db) -> Result<Option<Self>> {
        let Some(url) = &db.listen_url else {
            return Ok(None);
        };
        let mut listener = PgListener::connect(&url.0).await?;
        listener.listen(FEED_CHANNEL).await?;
        Ok(Some(Self(listener)))
    }

    /// The next change; waits until one comes or the connection drops (then
    /// [`FeedChange::Missed`], after re-connecting and listening again).
    pub async fn next(&mut self) -> Result<FeedChange> {
        Ok(match self.0.try_recv().await? {
            Some(n) => FeedChange::Product(n.payload().to_owned()),
            None => FeedChange::Missed,
        })
    }
}
