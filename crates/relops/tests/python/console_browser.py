"""Drives relops' web console in headless Chromium (Debian's, through Playwright).

Usage: console_browser.py CONFIG.json — the server's address, a token per role, the
release to work on, axe-core's script and the directory for screenshots. Does what the
people of the playbook do in their browsers and prints what it saw as JSON on stdout; the
Rust test (tests/console_browser.rs) asserts on it and checks the feed with python-tuf
between the steps it asks for (`step` in the config).
"""
import json
import sys

from playwright.sync_api import sync_playwright

cfg = json.load(open(sys.argv[1]))
URL = cfg["url"]
V = cfg["version"]
SHOTS = cfg["screenshots"]
AXE = open(cfg["axe"]).read()
RELEASE = f"/console/wizard/releases/{V}"
BUTTONS = ["start", "advance", "resume", "halt", "rollback", "decide", "sign-qa",
           "sign-security", "sign-ops", "sign-support", "confirm-rollback"]

out = {"buttons": {}, "actions": {}, "axe": {}, "overflow": {}, "xss": [], "timing": {},
       "csrf": None, "dialogs": [], "third_party": []}


def login(browser, role, width=1280):
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    page = ctx.new_page()
    page.on("dialog", lambda d: (out["dialogs"].append(d.message), d.dismiss()))
    page.on("request", lambda r: r.url.startswith(URL) or out["third_party"].append(r.url))
    page.goto(URL + "/")
    page.fill("#token", cfg["tokens"][role])
    page.click("button[type=submit]")
    page.wait_for_selector("#who")
    return ctx, page


def visible(page):
    return [b for b in BUTTONS if page.locator(f"#{b}").count() > 0]


def check_page(page, name):
    """axe-core's serious and critical findings, the page's width at 390 px, no script
    of anyone's having run, and screenshots at both widths."""
    # Through the DevTools protocol: the pages' CSP refuses an added script tag (rightly).
    page.evaluate(AXE)
    found = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ')');
    }""")
    out["axe"][name] = found
    if page.evaluate("() => window.pwned !== undefined"):
        out["xss"].append(name)
    page.screenshot(path=f"{SHOTS}/{name}-1280.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    out["overflow"][name] = page.evaluate(
        "() => document.documentElement.scrollWidth - window.innerWidth")
    page.screenshot(path=f"{SHOTS}/{name}-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def flash(page):
    el = page.locator("#flash")
    return el.inner_text() if el.count() else page.locator("main").inner_text()[:300]


def step_roles_and_go(browser):
    # Each role's buttons on the release's page.
    for role in ["release_manager", "qa_lead", "product_owner", "oncall_devops",
                 "support_agent", "admin"]:
        ctx, page = login(browser, role)
        page.goto(URL + RELEASE)
        out["buttons"][role] = visible(page)
        ctx.close()
    # The login page and the public pages, for axe and widths.
    with browser.new_context() as ctx:
        page = ctx.new_page()
        page.goto(URL + "/")
        check_page(page, "login")
        page.goto(URL + "/releases/wizard")
        check_page(page, "public-releases")
    # Support: the queue, a ticket with its analysis panel, the knowledge base's editor.
    ctx, page = login(browser, "support_agent")
    page.goto(URL + "/console/wizard/tickets")
    check_page(page, "tickets")
    page.click("#queue-table tbody a")
    page.wait_for_load_state()
    out["buttons"]["support_agent_ticket"] = [b for b in ["reply", "note", "solve", "escalate"]
                                               if page.locator(f"#{b}").count() > 0]
    check_page(page, "ticket")
    page.goto(URL + "/console/wizard/kb/new")
    page.fill("input[name=title]", "Blurry icons")
    page.fill("textarea[name=body]", "Delete **the cache**.")
    page.click("#do-preview")
    page.wait_for_load_state()
    out["kb_preview"] = page.locator("#preview-body").inner_html()
    check_page(page, "kb-editor")
    page.goto(URL + "/console/wizard/kb")
    check_page(page, "kb")
    ctx.close()
    # QA signs its item, with a note that tries to run a script.
    ctx, page = login(browser, "qa_lead")
    page.goto(URL + RELEASE)
    page.fill("#item-qa input[name=note]", cfg["xss"])
    page.click("#sign-qa")
    page.wait_for_load_state()
    out["actions"]["sign"] = flash(page)
    ctx.close()
    # The product owner says go.
    ctx, page = login(browser, "product_owner")
    page.goto(URL + RELEASE)
    page.click("#decide")
    page.wait_for_load_state()
    out["actions"]["go"] = flash(page)
    ctx.close()
    # The admin verifies the audit trail, where the script-like token name appears.
    ctx, page = login(browser, "admin")
    page.goto(URL + "/console/wizard/audit?verify=1")
    out["actions"]["verify"] = page.locator("#verification").inner_text()
    check_page(page, "audit")
    page.goto(URL + "/console/wizard/keys")
    check_page(page, "keys")
    page.goto(URL + "/console/wizard/tokens")
    check_page(page, "tokens")
    # The same page in German (the switch in its header).
    page.click("#lang")
    page.wait_for_load_state()
    out["switched_lang"] = page.evaluate("() => document.documentElement.lang")
    check_page(page, "tokens-de")
    ctx.close()
    # The release manager starts the pilot; the page as it is then is checked.
    ctx, page = login(browser, "release_manager")
    page.goto(URL + RELEASE)
    page.click("#start")
    page.wait_for_load_state()
    out["actions"]["start"] = flash(page)
    check_page(page, "release")
    page.goto(URL + "/console/wizard")
    check_page(page, "overview")
    page.goto(URL + "/console/wizard/releases")
    check_page(page, "releases")
    page.goto(URL + "/console/wizard/health?release=1.9.0&hours=24")
    out["health_charts"] = page.locator("svg.chart").count()
    check_page(page, "health")
    # A form posted without the session's CSRF token, with the session's cookie.
    r = page.request.post(URL + RELEASE + "/rollout/halt", form={"reason": "no token"})
    out["csrf"] = r.status
    # A refused action's page.
    page.goto(URL + RELEASE)
    page.goto(URL + "/console/wizard/releases/9.9.9")
    check_page(page, "error")
    # Loading times on loopback, and what a page transfers (bodies as sent: uncompressed).
    responses = []
    page.on("response", lambda r: responses.append(r))
    for name, path in [("overview", "/console/wizard"), ("release", RELEASE)]:
        responses.clear()
        page.goto(URL + path, wait_until="load")
        dcl = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
            return n.domContentLoadedEventEnd - n.startTime; }""")
        # The live-update stream never ends: its body is not part of the page.
        size = sum(len(r.body()) for r in responses
                   if r.status == 200 and "event-stream" not in r.headers.get("content-type", ""))
        out["timing"][name] = {"dom_content_loaded_ms": dcl, "bytes": size}
    ctx.close()


def step_halt_and_roll_back(browser):
    # On-call halts, then files a rollback; the product owner confirms it. The product
    # owner's overview is open all along: the halt reaches it without a reload.
    po_ctx, po_page = login(browser, "product_owner")
    po_page.goto(URL + "/console/wizard")
    po_page.evaluate("() => { window.notReloaded = true; }")
    out["live"] = {"before": po_page.locator("#rollouts").inner_text()}
    ctx, page = login(browser, "oncall_devops")
    page.goto(URL + RELEASE)
    page.fill("form:has(#halt) input[name=reason]", "crash reports from the pilot")
    page.click("#halt")
    page.wait_for_load_state()
    out["actions"]["halt"] = flash(page)
    try:
        po_page.wait_for_function("() => document.documentElement.dataset.updated", timeout=20000)
        out["live"]["after"] = po_page.locator("#rollouts").inner_text()
    except Exception as e:  # the assertion in Rust says what was missing
        out["live"]["error"] = str(e)[:300]
    out["live"]["not_reloaded"] = po_page.evaluate("() => window.notReloaded === true")
    po_ctx.close()
    out["buttons"]["oncall_devops_halted"] = visible(page)
    page.fill("form:has(#rollback) input[name=reason]", "crash on start in the pilot")
    page.click("#rollback")
    page.wait_for_load_state()
    out["actions"]["rollback"] = flash(page)
    ctx.close()
    ctx, page = login(browser, "product_owner")
    page.goto(URL + "/console/wizard")
    out["buttons"]["product_owner_overview"] = visible(page)
    page.click("#confirm-rollback")
    page.wait_for_load_state()
    out["actions"]["confirm"] = flash(page)
    check_page(page, "overview-after-rollback")
    # The rollback opened an incident: its list and its page, with the post-mortem form.
    page.goto(URL + "/console/wizard/incidents")
    check_page(page, "incidents")
    page.click("#incidents tbody a")
    page.wait_for_load_state()
    out["incident_forms"] = [f for f in ["file-postmortem", "decide-incident"]
                             if page.locator(f"#{f}").count() > 0]
    check_page(page, "incident")
    ctx.close()


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=cfg["chromium"], args=["--no-sandbox"])
    {"roles_and_go": step_roles_and_go, "halt_and_roll_back": step_halt_and_roll_back}[
        cfg["step"]](browser)
    browser.close()
print(json.dumps(out))
