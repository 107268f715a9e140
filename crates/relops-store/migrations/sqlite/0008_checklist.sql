-- The readiness checklist (R-REL-8): the latest sign-off per item, and every go/no-go
-- decision with its reason and waivers. Earlier sign-offs are in the audit log.
CREATE TABLE checklist_signoffs (
    product    TEXT NOT NULL,
    version    TEXT NOT NULL,
    item       TEXT NOT NULL,
    signed_by  TEXT NOT NULL,
    role       TEXT NOT NULL,
    signed_at  TEXT NOT NULL,
    note       TEXT,
    evidence   TEXT, -- JSON {name, sha256, size, blob_key}
    PRIMARY KEY (product, version, item),
    FOREIGN KEY (product, version) REFERENCES releases (product, version)
);

CREATE TABLE go_decisions (
    product     TEXT NOT NULL,
    version     TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    decision    TEXT NOT NULL, -- go | no_go
    decided_by  TEXT NOT NULL,
    reason      TEXT,
    waived      TEXT NOT NULL, -- JSON list of items
    blockers    TEXT NOT NULL, -- JSON list: what was open when decided
    PRIMARY KEY (product, version, decided_at),
    FOREIGN KEY (product, version) REFERENCES releases (product, version)
);
