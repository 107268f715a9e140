-- A review closed by a revision of a knowledge-base article (issue 33: a retrospective
-- closed with a linked playbook revision): the article and its revision number.
ALTER TABLE reviews ADD COLUMN kb_article TEXT;
ALTER TABLE reviews ADD COLUMN kb_revision BIGINT;
