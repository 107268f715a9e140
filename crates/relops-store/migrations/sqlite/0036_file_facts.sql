-- What updaters other than TUF clients check a file against (Sparkle's Ed25519 signature,
-- electron-updater's SHA-512, Velopack's SHA-1), made at upload. NULL on artifacts uploaded
-- before; all three are set together.
ALTER TABLE artifacts ADD COLUMN sha1 TEXT;
ALTER TABLE artifacts ADD COLUMN sha512 TEXT;
ALTER TABLE artifacts ADD COLUMN file_signature TEXT;
