-- Review cycles (issue 33, playbook §6): documents reviewed every half year (the permission
-- matrix, knowledge-base articles) and a retrospective after every release that reached
-- 100 %. One row per review to do; `done_at` once it is done.
CREATE TABLE reviews (
    product TEXT NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner_role TEXT NOT NULL,
    what TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    done_at TEXT,
    done_by TEXT,
    note TEXT,
    PRIMARY KEY (product, subject, due_at)
);
