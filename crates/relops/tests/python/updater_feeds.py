"""Reads a feed relops publishes for another updater the way that updater does, and checks
every file it names with an independent implementation: Sparkle's appcast (Ed25519 of each
enclosure with `cryptography` against the SUPublicEDKey), electron-updater's latest.yml
(SHA-512 in base64 and size, YAML read by PyYAML), Velopack's releases.{channel}.json
(SHA-1, SHA-256 and size). Relative URLs are resolved against the feed's URL, as the
updaters do. Prints what it found as JSON; exits 1 on anything malformed."""

import base64
import email.utils
import hashlib
import json
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SPARKLE = "{http://www.andymatuschak.org/xml-namespaces/sparkle}"


def fetch(url):
    with urllib.request.urlopen(url) as r:
        # The message object: header names compare case-insensitively.
        return r.read(), r.headers


def sparkle(url, public_key_b64):
    body, headers = fetch(url)
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    rss = ET.fromstring(body)
    assert rss.tag == "rss" and rss.get("version") == "2.0", rss.tag
    channel = rss.find("channel")
    assert channel.findtext("title"), "a channel title"
    items = []
    for item in channel.findall("item"):
        enc = item.find("enclosure")
        file_url = urllib.parse.urljoin(url, enc.get("url"))
        data, _ = fetch(file_url)
        sig = base64.b64decode(enc.get(SPARKLE + "edSignature"))
        try:
            key.verify(sig, data)
            signature_ok = True
        except Exception:
            signature_ok = False
        notes = item.findtext(SPARKLE + "releaseNotesLink")
        notes_ok = None
        if notes:
            notes_ok = fetch(urllib.parse.urljoin(url, notes))[0].startswith(b"#")
        pub = item.findtext("pubDate")
        items.append({
            "version": item.findtext(SPARKLE + "version"),
            "short_version": item.findtext(SPARKLE + "shortVersionString"),
            "url": file_url,
            "type": enc.get("type"),
            "length_ok": int(enc.get("length")) == len(data),
            "signature_ok": signature_ok,
            "notes_ok": notes_ok,
            "pub_date": email.utils.parsedate_to_datetime(pub).isoformat() if pub else None,
            "minimum_os": item.findtext(SPARKLE + "minimumSystemVersion"),
            "critical": item.find(SPARKLE + "criticalUpdate") is not None,
        })
    return {"items": items, "etag": headers.get("ETag"), "cache": headers.get("Cache-Control")}


def electron(url):
    body, headers = fetch(url)
    doc = yaml.safe_load(body)
    files = []
    for f in doc["files"]:
        data, _ = fetch(urllib.parse.urljoin(url, f["url"]))
        files.append({
            "url": f["url"],
            "sha512_ok": base64.b64encode(hashlib.sha512(data).digest()).decode() == f["sha512"],
            "size_ok": f["size"] == len(data),
        })
    assert doc["path"] == doc["files"][0]["url"] and doc["sha512"] == doc["files"][0]["sha512"]
    return {
        "version": str(doc["version"]),
        "stagingPercentage": doc.get("stagingPercentage"),
        "releaseDate": doc["releaseDate"],
        "files": files,
        "etag": headers.get("ETag"),
    }


def velopack(url):
    body, headers = fetch(url)
    doc = json.loads(body)
    assets = []
    for a in doc["Assets"]:
        data, _ = fetch(urllib.parse.urljoin(url, a["FileName"]))
        assets.append({
            "Version": a["Version"],
            "Type": a["Type"],
            "FileName": a["FileName"],
            "sha1_ok": hashlib.sha1(data).hexdigest() == a["SHA1"],
            "sha256_ok": hashlib.sha256(data).hexdigest() == a["SHA256"],
            "size_ok": a["Size"] == len(data),
        })
    return {"assets": assets, "etag": headers.get("ETag"), "cache": headers.get("Cache-Control")}


if __name__ == "__main__":
    kind, url = sys.argv[1], sys.argv[2]
    if kind == "sparkle":
        out = sparkle(url, sys.argv[3])
    elif kind == "electron":
        out = electron(url)
    else:
        out = velopack(url)
    json.dump(out, sys.stdout)
