-- Release notes (Markdown), kept in the blob store by content.
ALTER TABLE releases ADD COLUMN notes_sha256 TEXT;
