-- Console logins through the OpenID provider under way (issue 26): the state sent to the
-- provider (by its SHA-256), the nonce the ID token must carry, the PKCE verifier and
-- the page to return to. Taken (deleted) by the callback; at most 10 minutes old.
CREATE TABLE oidc_logins (
    state_hash  TEXT PRIMARY KEY,
    nonce       TEXT NOT NULL,
    verifier    TEXT NOT NULL,
    next        TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
