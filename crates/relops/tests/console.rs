//! The web console over HTTP (issue 26): login with a token for a session cookie, the
//! cookie's attributes, the security headers, pages per role, CSRF and cross-site refusals,
//! and logout. `console_browser.rs` drives the same
//! pages in a real browser.

mod common;

use common::{
    Backend, TestEnv, console_client as client, console_login as login, console_page as page,
};

backend_tests!(
    a_token_logs_in_and_forms_need_the_session_csrf_token,
    a_revoked_token_ends_its_sessions_and_the_last_admin_stays,
    an_alert_is_acknowledged_and_its_incident_decided_and_closed_in_the_console,
    support_works_the_queue_and_the_knowledge_base_in_the_console,
    pages_speak_german_to_who_asks_and_switch_back,
    the_release_list_comes_in_pages
);

/// The value of the hidden `csrf` field of a page.
fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field")
        + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

async fn a_token_logs_in_and_forms_need_the_session_csrf_token(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let url = s.url.clone();
    let dir = tempfile::tempdir().unwrap();
    s.with_installer(dir.path(), "2.0.0", "2027-03-15", 3);
    s.ready("2.0.0");
    s.cli_json_as(&s.as_role("product_owner"), &["approve", "2.0.0"]);

    // Without a session: the login page, with the security headers.
    let r = client().get(format!("{url}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(r.text().await.unwrap().contains("name=\"token\""));
    // A page of the console sends an anonymous visitor to the login, and back after it.
    let r = client()
        .get(format!("{url}/console/wizard/releases/2.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/login?next=%2Fconsole%2Fwizard%2Freleases%2F2.0.0"
    );
    // A wrong token: the login page again, saying so; no cookie.
    let r = client()
        .post(format!("{url}/login"))
        .form(&[("token", "relops_not-a-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("unknown or revoked API token")
    );
    // A login to an address off the site goes to the overview instead.
    let r = client()
        .post(format!("{url}/login"))
        .form(&[("token", s.token.as_str()), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");

    // The release manager: a session cookie that scripts cannot read and other sites do
    // not send.
    let rm = s.as_role("release_manager");
    let (cookie, line) = login(&url, &rm).await;
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(line.contains(attr), "{line}");
    }
    assert!(!line.contains("Secure"), "plain HTTP here: {line}");
    let (status, html) = page(&url, "/", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Overview</h1>") && html.contains("test-release_manager"));
    let (status, html) = page(&url, "/console/wizard/releases/2.0.0", &cookie).await;
    assert_eq!(status, 200, "{html}");
    // Start is the release manager's; go/no-go is not, nor is signing.
    assert!(html.contains("id=\"start\""), "{html}");
    assert!(!html.contains("id=\"decide\"") && !html.contains("id=\"sign-"));
    let token = csrf(&html);

    // A form without the CSRF token, or with another session's, does nothing.
    let start = format!("{url}/console/wizard/releases/2.0.0/rollout/start");
    let r = client()
        .post(&start)
        .header("cookie", &cookie)
        .form(&[("reason", "no token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("CSRF"));
    // A form sent from another site, even with the right token, does nothing.
    let r = client()
        .post(&start)
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        s.cli_json(&["release", "show", "2.0.0"])["state"],
        "approved",
        "nothing moved"
    );
    // From the page: the pilot starts, audited under the release manager's name.
    let r = client()
        .post(&start)
        .header("cookie", &cookie)
        .header("origin", &url)
        .form(&[("csrf", token.as_str()), ("reason", "from the console")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/console/wizard/releases/2.0.0?done=start"
    );
    let st = s.cli_json(&["rollout", "status", "2.0.0"]);
    assert_eq!(st["stage"], "pilot");
    assert!(
        st["started_by"]
            .as_str()
            .unwrap()
            .contains("test-release_manager")
    );
    let (_, html) = page(&url, "/console/wizard/releases/2.0.0?done=start", &cookie).await;
    assert!(html.contains("Pilot started."));
    assert!(html.contains("id=\"halt\"") && html.contains("id=\"rollback\""));

    // An action the roles do not allow is refused by the operation, shown as a page.
    let qa = s.as_role("qa_lead");
    let (qa_cookie, _) = login(&url, &qa).await;
    let (_, qa_html) = page(&url, "/console/wizard/releases/2.0.0", &qa_cookie).await;
    assert!(!qa_html.contains("id=\"halt\""), "QA may not halt");
    let r = client()
        .post(format!("{url}/console/wizard/releases/2.0.0/rollout/halt"))
        .header("cookie", &qa_cookie)
        .form(&[("csrf", csrf(&qa_html).as_str()), ("reason", "qa")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("rollout.halt"));

    // Logout ends the session: the cookie no longer opens a page.
    let r = client()
        .post(format!("{url}/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (status, _) = page(&url, "/console/wizard/releases", &cookie).await;
    assert_eq!(status, 303);

    // Another person's session lives on.
    let (status, _) = page(&url, "/console/wizard/releases", &qa_cookie).await;
    assert_eq!(status, 200);
}

async fn a_revoked_token_ends_its_sessions_and_the_last_admin_stays(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let url = s.url.clone();
    let agent = s.as_role("support_agent");
    let (agent_cookie, _) = login(&url, &agent).await;
    assert_eq!(
        page(&url, "/console/wizard/releases", &agent_cookie)
            .await
            .0,
        200
    );
    // The tokens page is the admin's: others are refused, and see no link to it.
    let (status, html) = page(&url, "/console/wizard/tokens", &agent_cookie).await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("token.manage"));
    assert_eq!(
        page(&url, "/console/wizard/audit", &agent_cookie).await.0,
        403
    );
    let (_, html) = page(&url, "/console/wizard", &agent_cookie).await;
    assert!(!html.contains("/tokens\""));

    // `relops token list` names every token, never a secret.
    let list = s.cli_json(&["token", "list"]);
    let tokens = list["tokens"].as_array().unwrap();
    let agent_id = tokens
        .iter()
        .find(|t| t["name"] == "test-support_agent")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!list.to_string().contains(&agent), "no secret in the list");
    let out = s.cli(&["token", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("test-support_agent"));

    // The admin revokes the agent's token in the console: the token and its session end.
    let (admin_cookie, _) = login(&url, &s.token).await;
    let (status, html) = page(&url, "/console/wizard/tokens", &admin_cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains(&format!("id=\"revoke-{agent_id}\"")));
    let r = client()
        .post(format!("{url}/console/wizard/tokens/{agent_id}/revoke"))
        .header("cookie", &admin_cookie)
        .form(&[("csrf", csrf(&html).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        page(&url, "/console/wizard/releases", &agent_cookie)
            .await
            .0,
        303
    );
    let out = s.cli_as(&agent, &["release", "list"]);
    common::assert_refused(&out, 1, "unknown or revoked API token");
    let audit = s.cli(&["audit", "export"]);
    assert!(
        String::from_utf8_lossy(&audit.stdout).contains("\"token.revoke\""),
        "audited"
    );
    // The audit page, filtered by action, and the chain verified from it.
    let (status, html) = page(
        &url,
        "/console/wizard/audit?action=token.rev",
        &admin_cookie,
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("<code>token.revoke</code>") && !html.contains("<code>token.create</code>")
    );
    let (_, html) = page(
        &url,
        "/console/wizard/audit?actor=test-support&action=",
        &admin_cookie,
    )
    .await;
    assert!(
        html.contains("No entry matches."),
        "the agent did nothing audited"
    );
    let (_, html) = page(&url, "/console/wizard/audit?verify=1", &admin_cookie).await;
    assert!(html.contains("The chain is intact"), "{html}");
    assert!(html.contains("token.create"));
    // Revoking it again: it is gone.
    let out = s.cli(&["token", "revoke", &agent_id]);
    common::assert_refused(&out, 1, "revoked already");

    // The last working admin token stays: without it nobody could make tokens.
    let admin = tokens.iter().find(|t| t["name"] == "admin").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = s.cli(&["token", "revoke", &admin]);
    common::assert_refused(&out, 1, "last admin token");
    // A token made in the console shows its secret once, and works.
    let (_, html) = page(&url, "/console/wizard/tokens", &admin_cookie).await;
    let r = client()
        .post(format!("{url}/console/wizard/tokens"))
        .header("cookie", &admin_cookie)
        .form(&[
            ("csrf", csrf(&html).as_str()),
            ("name", "quinn"),
            ("role", "qa_lead"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let open = "<pre id=\"secret\">";
    let at = html.find(open).unwrap() + open.len();
    let secret = html[at..].split('<').next().unwrap();
    assert!(secret.starts_with("relops_"), "{secret}");
    assert_eq!(s.cli_json_as(secret, &["whoami"])["name"], "quinn");
}

/// Posts a console form as the page would: the session's cookie, this site's origin and
/// the CSRF token of the page it came from. The redirect's location, or the error page.
async fn submit(
    url: &str,
    path: &str,
    cookie: &str,
    from: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let (_, html) = page(url, from, cookie).await;
    let token = csrf(&html);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    let r = client()
        .post(format!("{url}{path}"))
        .header("cookie", cookie)
        .header("origin", url)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    match r.headers().get("location") {
        Some(l) => (status, l.to_str().unwrap().to_owned()),
        None => (status, r.text().await.unwrap()),
    }
}

/// A pilot whose installs crash: the crash-rate alert fires and halts it, opening an
/// incident. On-call acknowledges the alert, the product owner decides a hotfix, and the
/// release manager files the post-mortem — each through the console's pages, each as
/// the API would record it.
async fn an_alert_is_acknowledged_and_its_incident_decided_and_closed_in_the_console(b: Backend) {
    let env = TestEnv::with_config(b, "[alerts]\nmaintenance_interval_seconds = 1\n").await;
    let s = env.serve();
    let url = s.url.clone();
    let dir = tempfile::tempdir().unwrap();
    s.with_installer(dir.path(), "2.0.0", "2027-03-15", 3);
    s.ready("2.0.0");
    s.cli_json_as(&s.as_role("product_owner"), &["approve", "2.0.0"]);
    s.cli_json(&["rollout", "start", "2.0.0"]);
    // 100 installs, 12 crashed: the sequential test fails at once.
    s.report_sessions("2.0.0", 100, 12).await;
    let http = s.http();
    let mut alert = serde_json::Value::Null;
    for _ in 0..150 {
        let list: serde_json::Value = http.get("/v1/alerts").await.json().await.unwrap();
        if let Some(a) = list["alerts"].as_array().and_then(|a| a.first())
            && a["incident"].is_string()
        {
            alert = a.clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let alert_id = alert["id"]
        .as_str()
        .expect("the crash-rate alert fired")
        .to_owned();
    let incident = alert["incident"].as_str().unwrap().to_owned();

    // On-call sees the alert with its evidence and acknowledges it.
    let (oncall, _) = login(&url, &s.as_role("oncall_devops")).await;
    let (status, html) = page(&url, "/console/wizard/incidents", &oncall).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("id=\"ack-{alert_id}\"")), "{html}");
    assert!(html.contains("installs crashed then: 12 / 100"), "{html}");
    let (status, to) = submit(
        &url,
        &format!("/console/wizard/alerts/{alert_id}/ack"),
        &oncall,
        "/console/wizard/incidents",
        &[("note", "looking at the crash reports")],
    )
    .await;
    assert_eq!(
        (status, to.as_str()),
        (303, "/console/wizard/incidents?done=acked")
    );
    let a: serde_json::Value = http
        .get(&format!("/v1/alerts/{alert_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["status"], "acknowledged");
    assert!(a["acked_by"].as_str().unwrap().contains("oncall_devops"));
    assert_eq!(a["ack_note"], "looking at the crash reports");
    // Acknowledging twice is refused with the operation's words.
    let (status, html) = submit(
        &url,
        &format!("/console/wizard/alerts/{alert_id}/ack"),
        &oncall,
        "/console/wizard/incidents",
        &[],
    )
    .await;
    assert_eq!(status, 409, "{html}");
    assert!(
        html.contains("only a firing alert is acknowledged"),
        "{html}"
    );

    // The incident: its evidence and the health now; a QA lead may read, not decide.
    let path = format!("/console/wizard/incidents/{incident}");
    let (qa, _) = login(&url, &s.as_role("qa_lead")).await;
    let (_, html) = page(&url, &path, &qa).await;
    assert!(
        html.contains("Health gate now:") && html.contains("failing"),
        "{html}"
    );
    assert!(!html.contains("id=\"decide-incident\""), "{html}");
    let (po, _) = login(&url, &s.as_role("product_owner")).await;
    let (_, html) = page(&url, &path, &po).await;
    assert!(html.contains("id=\"decide-incident\""), "{html}");
    assert!(!html.contains("id=\"file-postmortem\""), "decide first");
    let (status, to) = submit(
        &url,
        &format!("{path}/decision"),
        &po,
        &path,
        &[
            ("action", "hotfix"),
            ("note", "fix the crash in the renderer"),
        ],
    )
    .await;
    assert_eq!((status, to.clone()), (303, format!("{path}?done=decided")));
    let i: serde_json::Value = http
        .get(&format!("/v1/incidents/{incident}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(i["status"], "decided");
    assert_eq!(i["decision"]["action"], "hotfix");
    assert!(i["decision"]["hotfix_due"].is_string());

    // The release manager files the post-mortem; script in it stays text.
    let (rm, _) = login(&url, &s.as_role("release_manager")).await;
    let (_, html) = page(&url, &path, &rm).await;
    assert!(html.contains("id=\"file-postmortem\""), "{html}");
    let text = "# What happened\n\nA renderer crash.<script>window.pwned=1</script>\n";
    let (status, to) = submit(
        &url,
        &format!("{path}/postmortem"),
        &rm,
        &path,
        &[("text", text)],
    )
    .await;
    assert_eq!((status, to), (303, format!("{path}?done=postmortem")));
    let (_, html) = page(&url, &format!("{path}?done=postmortem"), &rm).await;
    assert!(html.contains("Post-mortem filed"), "{html}");
    assert!(html.contains("<h1>What happened</h1>"), "{html}");
    assert!(!html.contains("<script>window.pwned"), "{html}");
    let i: serde_json::Value = http
        .get(&format!("/v1/incidents/{incident}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(i["status"], "resolved");
    assert_eq!(i["postmortem"], text);
}

/// Support in the console: the queue with the critical ticket first, a reply and an
/// internal note, a solve that closing refuses until the customer confirms (shown with
/// what is missing), the lead's recorded confirmation and the close; an agent's draft
/// article previewed (script dropped) and saved, the lead publishing it.
async fn support_works_the_queue_and_the_knowledge_base_in_the_console(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let url = s.url.clone();
    let agent_token = s.as_role("support_agent");
    let open = |subject: &str, customer: &str| {
        s.cli_json_as(
            &agent_token,
            &[
                "ticket",
                "open",
                "--subject",
                subject,
                "--customer",
                customer,
            ],
        )["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let normal = open("Toolbar icons are blurry", "ana@example.com");
    let critical = open(
        "App does not start after the update <b>help</b>",
        "ben@example.com",
    );

    let (agent, _) = login(&url, &agent_token).await;
    let (status, html) = page(&url, "/console/wizard/tickets", &agent).await;
    assert_eq!(status, 200, "{html}");
    // The critical ticket's first response is due first; the customer's text is escaped.
    let (c, n) = (
        html.find(&format!(">{critical}</a>")).unwrap(),
        html.find(&format!(">{normal}</a>")).unwrap(),
    );
    assert!(c < n, "{html}");
    assert!(
        html.contains("&#60;b&#62;help") && !html.contains("<b>help</b>"),
        "{html}"
    );
    // A release manager reads the queue but has no hand in it; no queue for QA.
    let (rm, _) = login(&url, &s.as_role("release_manager")).await;
    let (_, html) = page(&url, &format!("/console/wizard/tickets/{critical}"), &rm).await;
    assert!(!html.contains("id=\"reply\""), "{html}");
    let (qa, _) = login(&url, &s.as_role("qa_lead")).await;
    assert_eq!(page(&url, "/console/wizard/tickets", &qa).await.0, 200);

    let path = format!("/console/wizard/tickets/{critical}");
    let (status, to) = submit(
        &url,
        &format!("{path}/reply"),
        &agent,
        &path,
        &[
            ("body", "Which version of macOS do you use?"),
            ("wait_on_customer", "true"),
        ],
    )
    .await;
    assert_eq!((status, to.clone()), (303, format!("{path}?done=replied")));
    submit(
        &url,
        &format!("{path}/note"),
        &agent,
        &path,
        &[("body", "Maybe the 2.0 migration")],
    )
    .await;
    let t = s.cli_json_as(&agent_token, &["ticket", "show", &critical]);
    assert_eq!(t["status"], "waiting_on_customer");
    assert!(t["first_response_at"].is_string());
    let kinds: Vec<&str> = t["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"reply"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"note"), "{kinds:?}");
    let (_, html) = page(&url, &path, &agent).await;
    assert!(
        html.contains("internal, the customer does not see it"),
        "{html}"
    );
    // An empty solve is refused with the operation's words; a documented one solves.
    let (status, html) = submit(&url, &format!("{path}/solve"), &agent, &path, &[]).await;
    assert!(status >= 400, "{status} {html}");
    let (status, _) = submit(
        &url,
        &format!("{path}/solve"),
        &agent,
        &path,
        &[(
            "resolution",
            "Delete the stale cache folder; fixed in 2.0.1",
        )],
    )
    .await;
    assert_eq!(status, 303);
    // Closing needs the customer's confirmation: the page says so, and so does the refusal.
    let (_, html) = page(&url, &path, &agent).await;
    assert!(
        html.contains("id=\"close-blockers\"") && html.contains("the customer has not confirmed"),
        "{html}"
    );
    let (status, html) = submit(&url, &format!("{path}/close"), &agent, &path, &[]).await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("the customer has not confirmed"), "{html}");
    let (lead, _) = login(&url, &s.as_role("support_lead")).await;
    let (status, _) = submit(
        &url,
        &format!("{path}/confirm"),
        &lead,
        &path,
        &[("note", "confirmed by phone")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, to) = submit(&url, &format!("{path}/close"), &agent, &path, &[]).await;
    assert_eq!((status, to), (303, format!("{path}?done=closed")));
    assert_eq!(
        s.cli_json_as(&agent_token, &["ticket", "show", &critical])["status"],
        "closed"
    );

    // The knowledge base: the agent previews a draft (nothing saved), then saves it.
    let body = "Delete **the cache**.<script>window.pwned=1</script>";
    let (status, html) = submit(
        &url,
        "/console/wizard/kb/new",
        &agent,
        "/console/wizard/kb/new",
        &[
            ("kind", "faq"),
            ("title", "Blurry icons"),
            ("body", body),
            ("do", "preview"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Preview (not saved)") && html.contains("<strong>the cache</strong>"),
        "{html}"
    );
    assert!(!html.contains("<script>window.pwned"), "{html}");
    assert_eq!(
        s.cli_json_as(&agent_token, &["kb", "list"])["articles"],
        serde_json::json!([])
    );
    let (status, to) = submit(
        &url,
        "/console/wizard/kb/new",
        &agent,
        "/console/wizard/kb/new",
        &[
            ("kind", "faq"),
            ("title", "Blurry icons"),
            ("body", body),
            ("do", "save"),
        ],
    )
    .await;
    assert_eq!(status, 303, "{to}");
    let id = to
        .trim_start_matches("/console/wizard/kb/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let a = s.cli_json_as(&agent_token, &["kb", "show", &id]);
    assert_eq!(
        (a["status"].as_str(), a["body"].as_str()),
        (Some("draft"), Some(body))
    );
    // Publishing is the lead's: the agent has no button for it, the lead does.
    let art = format!("/console/wizard/kb/{id}");
    let (_, html) = page(&url, &art, &agent).await;
    assert!(
        html.contains("id=\"do-save\"") && !html.contains("id=\"do-publish\""),
        "{html}"
    );
    let (status, _) = submit(
        &url,
        &art,
        &lead,
        &art,
        &[
            ("title", "Blurry toolbar icons"),
            ("body", body),
            ("do", "publish"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let a = s.cli_json_as(&agent_token, &["kb", "show", &id]);
    assert_eq!(a["status"], "published");
    assert_eq!(a["revisions"].as_array().unwrap().len(), 2, "{a}");
    let (_, html) = page(&url, &art, &agent).await;
    assert!(
        html.contains("Blurry toolbar icons") && html.contains("published"),
        "{html}"
    );
    assert!(
        html.contains("revised by a support lead"),
        "an agent cannot revise what customers read: {html}"
    );
}

/// `Accept-Language: de` gets German pages; the switch keeps English in a cookie that
/// outranks the header and returns to the page it was on.
async fn pages_speak_german_to_who_asks_and_switch_back(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let url = s.url.clone();
    let (cookie, _) = login(&url, &s.as_role("release_manager")).await;
    let get = |path: &str, cookie: String, lang: &'static str| {
        let url = url.clone();
        let path = path.to_owned();
        async move {
            client()
                .get(format!("{url}{path}"))
                .header("cookie", cookie)
                .header("accept-language", lang)
                .send()
                .await
                .unwrap()
        }
    };
    let de = get("/console/wizard", cookie.clone(), "de-DE,de;q=0.9,en;q=0.8")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        de.contains("<html lang=\"de\">") && de.contains("<h1>Übersicht</h1>"),
        "{de}"
    );
    assert!(de.contains(">English</a>"), "{de}");
    // Every page speaks German: its heading, and a button or column of its own.
    let (admin, _) = login(&url, &s.token_with(&["admin", "support_lead"])).await;
    for (path, heading, also) in [
        (
            "/console/wizard/releases",
            "<h1>Releases</h1>",
            "Noch kein Release",
        ),
        (
            "/console/wizard/health",
            "<h1>Zustand der Releases</h1>",
            "Noch kein Release",
        ),
        (
            "/console/wizard/incidents",
            "<h1>Alarme und Störungen</h1>",
            "Noch keine Störung.",
        ),
        (
            "/console/wizard/tickets",
            "<h1>Support-Warteschlange</h1>",
            ">Zu bearbeiten</a>",
        ),
        (
            "/console/wizard/kb",
            "<h1>Wissensdatenbank</h1>",
            "Noch kein Artikel.",
        ),
        (
            "/console/wizard/kb/new",
            "<h1>Neuer Artikel</h1>",
            ">Vorschau</button>",
        ),
        (
            "/console/wizard/tokens",
            "<h1>API-Tokens</h1>",
            ">Token erstellen</button>",
        ),
        (
            "/console/wizard/audit",
            "<h1>Prüfprotokoll</h1>",
            ">Kette prüfen</button>",
        ),
    ] {
        let page = get(path, admin.clone(), "de").await.text().await.unwrap();
        assert!(
            page.contains(heading) && page.contains(also),
            "{path} in German: {page}"
        );
    }
    // A refused action's page is German too; the operation's message stays as it said.
    let r = get("/console/wizard/releases/9.9.9", admin.clone(), "de").await;
    assert_eq!(r.status(), 404);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("<html lang=\"de\">") && page.contains("<h1>Nicht ausgeführt</h1>"),
        "{page}"
    );
    let en = get("/console/wizard", cookie.clone(), "en-US")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        en.contains("<h1>Overview</h1>") && en.contains(">Deutsch</a>"),
        "{en}"
    );
    // The login page, too.
    let login_de = get("/login", String::new(), "de")
        .await
        .text()
        .await
        .unwrap();
    assert!(login_de.contains(">Anmelden</button>"), "{login_de}");
    // The switch: back to the page it was on, English kept against the header.
    let r = client()
        .get(format!("{url}/lang/en"))
        .header("cookie", &cookie)
        .header("referer", format!("{url}/console/wizard/releases"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/wizard/releases");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("relops_lang=en;"), "{set}");
    let both = format!("{cookie}; relops_lang=en");
    let page = get("/console/wizard", both, "de")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<h1>Overview</h1>"), "{page}");
    // A referer of another site sends to the overview instead.
    let r = client()
        .get(format!("{url}/lang/de"))
        .header("referer", "https://evil.example/console/wizard")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/");
    assert_eq!(
        client()
            .get(format!("{url}/lang/fr"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

/// A long history is listed 200 releases a page, newest first, each page well under the
/// 150 KB a page may weigh; a page past the last is not found.
async fn the_release_list_comes_in_pages(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let url = s.url.clone();
    let rm = s.as_role("release_manager");
    let api = reqwest::Client::new();
    for i in 0..205 {
        let r = api
            .post(format!("{url}/v1/releases"))
            .bearer_auth(&rm)
            .json(&serde_json::json!({"version": format!("1.{}.{}", i / 10, i % 10), "go_live": "2027-03-15"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let (cookie, _) = login(&url, &rm).await;
    let rows = |html: &str| {
        html.matches("<tr><td><a href=\"/console/wizard/releases/")
            .count()
    };
    let (status, first) = page(&url, "/console/wizard/releases", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(rows(&first), 200);
    assert!(
        first.contains("releases/1.20.4\">1.20.4</a>"),
        "the newest first"
    );
    assert!(
        !first.contains("releases/1.0.4\">"),
        "the oldest are on page 2"
    );
    assert!(first.contains("Releases 1–200 / 205"), "{first}");
    assert!(first.contains("href=\"/console/wizard/releases?page=2\" rel=\"next\""));
    assert!(first.len() < 150_000, "{} bytes", first.len());
    let (status, second) = page(&url, "/console/wizard/releases?page=2", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(rows(&second), 5);
    assert!(second.contains("releases/1.0.0\">1.0.0</a>"));
    assert!(second.contains("rel=\"prev\"") && !second.contains("rel=\"next\""));
    let (status, html) = page(&url, "/console/wizard/releases?page=3", &cookie).await;
    assert_eq!(status, 404);
    assert!(html.contains("there are 2"), "{html}");
}
