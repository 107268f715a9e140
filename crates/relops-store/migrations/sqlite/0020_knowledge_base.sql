-- The knowledge base (issue 25): FAQ articles and known issues, every revision kept, and
-- one full-text index over the knowledge base and the tickets' text.
CREATE TABLE kb_numbers (
    product TEXT NOT NULL,
    kind TEXT NOT NULL,
    last INTEGER NOT NULL,
    PRIMARY KEY (product, kind)
);

CREATE TABLE kb_articles (
    id TEXT PRIMARY KEY,             -- FAQ-3, KI-2
    product TEXT NOT NULL,
    kind TEXT NOT NULL,              -- faq | known_issue
    title TEXT NOT NULL,
    body TEXT NOT NULL,              -- Markdown, the newest revision
    status TEXT NOT NULL,            -- draft | published
    release_version TEXT,            -- the release it is about
    fingerprint TEXT,                -- known issue: the crash fingerprint (critical rule, error code)
    issue_status TEXT,               -- known issue: open | fixed in X.Y.Z
    revision INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    published_at TEXT
);
CREATE INDEX kb_articles_product ON kb_articles (product, kind, status);

CREATE TABLE kb_revisions (
    article TEXT NOT NULL,
    revision INTEGER NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    release_version TEXT,
    author TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (article, revision)
);

-- Full text: one row per KB article (its newest text; status draft | published) and per
-- ticket message (status `ticket`). unicode61
-- with diacritics folded, so "offnen" finds "Öffnen".
CREATE VIRTUAL TABLE search_fts USING fts5(
    kind UNINDEXED, ref UNINDEXED, product UNINDEXED, status UNINDEXED, title, body,
    tokenize = 'unicode61 remove_diacritics 2'
);
