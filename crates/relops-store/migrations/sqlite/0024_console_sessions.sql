-- The web console's sessions (issue 26): a person logged in with an API token (token_id
-- set; its roles are read from the token on every request, so revoking the token ends the
-- session) or through the company's OpenID provider (token_id NULL; roles from the
-- provider's claims at login). The cookie's secret is stored by its SHA-256 only.
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,
    token_id    TEXT,
    subject     TEXT NOT NULL,
    name        TEXT NOT NULL,
    roles       TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
