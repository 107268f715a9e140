"""Logs in to relops' console through a real OpenID provider (npm oidc-provider and its
development login pages), in headless Chromium driven by Playwright.

Usage: console_sso.py CONFIG.json — {"url", "chromium", "axe", "accounts": [...]}. For each
account: the login page's single sign-on button, the provider's login and consent, and
where the browser ends up (who the console says is logged in, or the refusal), the
cookies it holds, and what replaying the callback gives. Prints the report as JSON.
"""
import json
import sys

from playwright.sync_api import sync_playwright

cfg = json.load(open(sys.argv[1]))
URL = cfg["url"]
AXE = open(cfg["axe"]).read()
out = {}


def text(page, sel):
    el = page.locator(sel)
    return el.inner_text() if el.count() else None


def sso(browser, account):
    ctx = browser.new_context()
    page = ctx.new_page()
    callbacks = []
    page.on("request", lambda r: "/login/oidc/callback" in r.url and callbacks.append(r.url))
    page.goto(URL + "/login?next=/console/wizard/releases")
    r = {"button": text(page, "#sso")}
    page.evaluate(AXE)
    r["axe"] = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => v.id)""")
    page.click("#sso")
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", account)
    page.fill("input[name=password]", "whatever")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    # The provider's consent page, once per client and account.
    for _ in range(3):
        if page.url.startswith(URL):
            break
        page.locator("button[type=submit]").first.click()
        page.wait_for_load_state()
    page.wait_for_load_state("load")
    r["path"] = page.url[len(URL):] if page.url.startswith(URL) else page.url
    r["who"] = text(page, "#who")
    r["error"] = text(page, "#login-error")
    r["cookies"] = sorted(c["name"] for c in ctx.cookies() if c["name"].startswith("relops_"))
    # The provider's answer used again in the same browser: refused.
    if callbacks:
        again = page.request.get(callbacks[-1], max_redirects=0)
        r["replay"] = again.status
    ctx.close()
    return r


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=cfg["chromium"], args=["--no-sandbox"])
    for account in cfg["accounts"]:
        out[account] = sso(browser, account)
    browser.close()
print(json.dumps(out))
