-- The knowledge base (issue 25): FAQ articles and known issues, every revision kept, and
-- one full-text index over the knowledge base and the tickets' text.
CREATE TABLE kb_numbers (
    product TEXT NOT NULL,
    kind TEXT NOT NULL,
    last BIGINT NOT NULL,
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
    revision BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    published_at TEXT
);
CREATE INDEX kb_articles_product ON kb_articles (product, kind, status);

CREATE TABLE kb_revisions (
    article TEXT NOT NULL,
    revision BIGINT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    release_version TEXT,
    author TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (article, revision)
);

-- Full text: one row per KB article (its newest text) and per ticket message, German and
-- English stemming together.
CREATE TABLE search_fts (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    product TEXT NOT NULL,
    status TEXT NOT NULL,            -- draft | published (KB), open (tickets)
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    doc tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('german', title), 'A') || setweight(to_tsvector('english', title), 'A')
        || to_tsvector('german', body) || to_tsvector('english', body)
    ) STORED
);
CREATE INDEX search_fts_doc ON search_fts USING GIN (doc);
CREATE INDEX search_fts_ref ON search_fts (ref);
