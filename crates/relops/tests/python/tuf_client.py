"""Drives python-tuf's ngclient (PyPI `tuf` 7.x) against a relops feed.

    tuf_client.py METADATA_URL TARGETS_URL TRUSTED_ROOT_FILE WORK_DIR

Refreshes the metadata from the trusted root, then downloads and verifies every target
listed in the top-level targets metadata. With TUF_CLIENT_DAYS_AHEAD=N in the environment,
the client's clock runs N days ahead (expiry is judged against it): an injected clock. Prints one JSON object:
{"targets": {name: {"sha256": ..., "length": ..., "custom": ...}}, "versions": {...}}.
Exits 1 with the error on any verification failure.
"""
import hashlib
import json
import os
import sys

from tuf.api.metadata import Metadata, Targets
from tuf.ngclient import Updater
from tuf.ngclient._internal import trusted_metadata_set


def run_clock_ahead(days: float) -> None:
    """The time python-tuf judges expiry against (`TrustedMetadataSet.reference_time`,
    taken from `datetime.datetime.now` of that module), moved `days` ahead."""
    import datetime as real

    class Ahead(real.datetime):
        @classmethod
        def now(cls, tz=None):
            return real.datetime.now(tz) + real.timedelta(days=days)

    class Clock:
        datetime = Ahead
        timezone = real.timezone
        timedelta = real.timedelta

    trusted_metadata_set.datetime = Clock


def main() -> int:
    metadata_url, targets_url, root_file, work = sys.argv[1:5]
    if os.environ.get("TUF_CLIENT_DAYS_AHEAD"):
        run_clock_ahead(float(os.environ["TUF_CLIENT_DAYS_AHEAD"]))
    meta_dir = os.path.join(work, "metadata")
    dl_dir = os.path.join(work, "downloads")
    os.makedirs(meta_dir, exist_ok=True)
    os.makedirs(dl_dir, exist_ok=True)
    with open(root_file, "rb") as f:
        root = f.read()
    updater = Updater(
        metadata_dir=meta_dir,
        metadata_base_url=metadata_url,
        target_base_url=targets_url,
        target_dir=dl_dir,
        bootstrap=root,
    )
    try:
        updater.refresh()
        targets = Metadata[Targets].from_file(os.path.join(meta_dir, "targets.json"))
        out = {}
        for name in sorted(targets.signed.targets):
            info = updater.get_targetinfo(name)
            if info is None:
                raise RuntimeError(f"target {name} listed but not found by the updater")
            path = updater.download_target(info, os.path.join(dl_dir, name))
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            out[name] = {"sha256": digest, "length": info.length, "custom": info.custom}
        versions = {}
        for role in ("root", "timestamp", "snapshot", "targets"):
            md = Metadata.from_file(os.path.join(meta_dir, f"{role}.json"))
            versions[role] = md.signed.version
    except Exception as e:  # noqa: BLE001 - the test wants any failure, named
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"targets": out, "versions": versions}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
