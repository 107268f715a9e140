//! The readiness checklist and the go/no-go decision (R-REL-8): owners sign their items
//! once the gates that feed them passed; only the product owner decides; a no-go records
//! its reason; the emergency path waives items of a patch release, audited.

mod common;

use common::{Backend, TestEnv, assert_refused, report, test_bytes};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

backend_tests!(
    owners_sign_and_the_product_owner_decides,
    a_hotfix_can_waive_items,
    go_needs_platform_signing_evidence
);

fn item<'a>(c: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    c["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == name)
        .unwrap()
}

async fn owners_sign_and_the_product_owner_decides(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    s.upload(
        w,
        "2.1.0",
        "windows-x64",
        "WIZARD-2.1.0.msi",
        &test_bytes(5000, 1),
    );
    let (qa, sec, ops, sup, po) = (
        s.as_role("qa_lead"),
        s.as_role("security_engineer"),
        s.as_role("oncall_devops"),
        s.as_role("support_lead"),
        s.as_role("product_owner"),
    );

    let c = s.cli_json(&["checklist", "show", "2.1.0"]);
    let owners: Vec<(&str, &str, &str)> = c["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["item"].as_str().unwrap(),
                i["owner"].as_str().unwrap(),
                i["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        owners,
        [
            ("qa", "qa_lead", "open"),
            ("security", "security_engineer", "open"),
            ("ops", "oncall_devops", "open"),
            ("support", "support_lead", "open"),
            ("management", "product_owner", "open"),
        ]
    );
    assert_eq!(
        item(&c, "security")["gates"],
        json!({"vulnerabilities": "missing", "secrets": "missing", "sbom": "missing"})
    );
    // By default every gate is required; and a draft is approved only after its freeze.
    let blockers = c["blockers"].as_array().unwrap();
    assert_eq!(blockers.len(), 4 + 6 + 1, "{blockers:?}");
    assert!(
        blockers.last().unwrap().as_str().unwrap().starts_with(
            "the release is a draft: it is approved only after its feature freeze (due 2027-03-08"
        ),
        "{blockers:?}"
    );
    let gates = s.cli_json(&["gate", "list", "2.1.0"]);
    assert_eq!(
        gates["missing"],
        json!([
            "coverage",
            "tests",
            "lint",
            "sbom",
            "vulnerabilities",
            "secrets"
        ])
    );

    // Only the owner role signs, and only once the feeding gates passed.
    assert_refused(
        &s.cli_as(&sec, &["checklist", "sign", "2.1.0", "qa"]),
        1,
        "signed by the qa_lead role",
    );
    assert_refused(
        &s.cli(&["checklist", "sign", "2.1.0", "qa"]),
        1,
        "checklist.sign",
    );
    assert_refused(
        &s.cli_as(&qa, &["checklist", "sign", "2.1.0", "qa"]),
        1,
        "tests missing, coverage missing, lint missing",
    );
    assert_refused(
        &s.cli_as(&qa, &["checklist", "sign", "2.1.0", "legal"]),
        1,
        "unknown checklist item",
    );
    let _ = s.cli_as(
        &qa,
        &[
            "gate",
            "coverage",
            "2.1.0",
            &report("coverage-low.cobertura.xml"),
        ],
    );
    s.cli_json_as(
        &qa,
        &["gate", "tests", "2.1.0", &report("junit-nextest-pass.xml")],
    );
    assert_refused(
        &s.cli_as(&qa, &["checklist", "sign", "2.1.0", "qa"]),
        1,
        "coverage failed",
    );
    s.cli_json_as(
        &qa,
        &[
            "gate",
            "coverage",
            "2.1.0",
            &report("coverage-high.cobertura.xml"),
        ],
    );
    // The lint gate (R-REL-5): clippy's error-level finding fails it; a clean log passes.
    let out = s.cli_as(
        &qa,
        &["gate", "lint", "2.1.0", &report("lint-clippy.sarif")],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("lint gate: FAIL — clippy: 1 errors, 1 warnings, 0 notes")
            && text.contains("clippy::unwrap_used: 1"),
        "{text}"
    );
    assert_refused(
        &s.cli_as(&qa, &["checklist", "sign", "2.1.0", "qa"]),
        1,
        "lint failed",
    );
    let out = s.cli_as(
        &qa,
        &[
            "gate",
            "lint",
            "2.1.0",
            &report("lint-clippy-clean.sarif"),
            &report("lint-ruff.sarif"),
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let lint: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lint["passed"], false, "ruff's findings are errors: {lint}");
    s.cli_json_as(
        &qa,
        &["gate", "lint", "2.1.0", &report("lint-clippy-clean.sarif")],
    );
    // UI smoke results are part of QA's sign-off (R-REL-5): nextest's unit run alone is not.
    assert_refused(
        &s.cli_as(&qa, &["checklist", "sign", "2.1.0", "qa"]),
        1,
        "the tests gate holds no UI smoke results",
    );
    let t = s.cli_json_as(
        &qa,
        &[
            "gate",
            "tests",
            "2.1.0",
            "--unit",
            &report("junit-nextest-pass.xml"),
            "--ui-smoke",
            &report("junit-pytest-ui-smoke.xml"),
        ],
    );
    assert_eq!(t["summary"]["ui_smoke"], true, "{t}");
    // Unit, integration and UI smoke runs are told apart as submitted.
    assert_eq!(t["summary"]["by_kind"]["unit"]["tests"], 5, "{t}");
    assert_eq!(t["summary"]["by_kind"]["ui_smoke"]["passed"], 3, "{t}");
    let text = String::from_utf8(
        s.cli_as(
            &qa,
            &[
                "gate",
                "tests",
                "2.1.0",
                "--unit",
                &report("junit-nextest-pass.xml"),
                "--ui-smoke",
                &report("junit-pytest-ui-smoke.xml"),
            ],
        )
        .stdout,
    )
    .unwrap();
    assert!(text.contains("; ui smoke 3, unit 5"), "{text}");
    let bogus = reqwest::multipart::Form::new().part(
        "acceptance",
        reqwest::multipart::Part::bytes(std::fs::read(report("junit-nextest-pass.xml")).unwrap())
            .file_name("a.xml"),
    );
    let r = reqwest::Client::new()
        .put(format!("{}/v1/releases/2.1.0/gates/tests", s.url))
        .bearer_auth(&qa)
        .multipart(bogus)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("part `acceptance` is not known here")
    );
    let c = s.cli_json_as(
        &qa,
        &[
            "checklist",
            "sign",
            "2.1.0",
            "qa",
            "--note",
            "regression + UI smoke green",
        ],
    );
    let q = item(&c, "qa");
    assert_eq!(q["status"], "done");
    assert!(
        q["signed_by"]
            .as_str()
            .unwrap()
            .starts_with("test-qa_lead (")
    );
    assert_eq!(q["note"], "regression + UI smoke green");

    // Ops signs with evidence, kept by content.
    let evidence = w.join("grafana-wizard-2.1.json");
    std::fs::write(&evidence, br#"{"dashboard": "wizard release health"}"#).unwrap();
    let c = s.cli_json_as(
        &ops,
        &[
            "checklist",
            "sign",
            "2.1.0",
            "ops",
            "--evidence",
            evidence.to_str().unwrap(),
        ],
    );
    let e = &item(&c, "ops")["evidence"];
    assert_eq!(e["name"], "grafana-wizard-2.1.json");
    assert_eq!(
        e["sha256"],
        hex::encode(Sha256::digest(std::fs::read(&evidence).unwrap()))
    );
    // Support signs off release notes, so they must exist.
    assert_refused(
        &s.cli_as(&sup, &["checklist", "sign", "2.1.0", "support"]),
        1,
        "release notes",
    );
    let notes = w.join("notes.md");
    std::fs::write(&notes, "# WIZARD 2.1\n").unwrap();
    s.cli_json_as(
        &sup,
        &["release", "notes", "2.1.0", notes.to_str().unwrap()],
    );
    // ... and the FAQ updated for the release (here: the support lead says none is needed).
    assert_refused(
        &s.cli_as(&sup, &["checklist", "sign", "2.1.0", "support"]),
        1,
        "FAQ updated",
    );
    s.cli_json_as(
        &sup,
        &[
            "checklist",
            "sign",
            "2.1.0",
            "support",
            "--no-faq-change",
            "--note",
            "internal build changes only",
        ],
    );
    assert_refused(
        &s.cli_as(&po, &["checklist", "sign", "2.1.0", "management"]),
        1,
        "checklist.sign",
    );

    // Go is the product owner's alone, and refused while anything is open.
    assert_refused(&s.cli(&["approve", "2.1.0"]), 1, "release.approve");
    assert_refused(
        &s.cli_as(&s.as_role("release_manager"), &["approve", "2.1.0"]),
        1,
        "release.approve",
    );
    let out = s.cli_as(&po, &["approve", "2.1.0"]);
    assert_refused(
        &out,
        1,
        "checklist item security (security_engineer) is not signed",
    );
    assert_refused(&out, 1, "gate sbom missing");

    // A no-go records its reason and what was open; the release stays where it is.
    assert_refused(
        &s.cli_as(&po, &["approve", "2.1.0", "--no-go"]),
        2,
        "--reason",
    );
    let c = s.cli_json_as(
        &po,
        &[
            "approve",
            "2.1.0",
            "--no-go",
            "--reason",
            "security review pending",
        ],
    );
    assert_eq!(c["state"], "draft");
    let d = &c["decisions"][0];
    assert_eq!(d["decision"], "no_go");
    assert_eq!(d["reason"], "security review pending");
    assert!(
        d["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == "gate sbom missing")
    );
    let human = String::from_utf8(s.cli(&["checklist", "show", "2.1.0"]).stdout).unwrap();
    assert!(human.contains("no_go by test-product_owner ("), "{human}");
    assert!(human.contains("security review pending"), "{human}");

    // Waivers are for hotfixes (patch releases) only.
    assert_refused(
        &s.cli_as(
            &po,
            &["approve", "2.1.0", "--waive", "security", "--reason", "x"],
        ),
        1,
        "patch releases",
    );

    for f in [
        "sbom-python-env.cdx.json",
        "vulns-cargo-audit-clean.json",
        "secrets-clean.baseline.json",
    ] {
        let kind = if f.starts_with("sbom") {
            "sbom"
        } else {
            "scan"
        };
        s.cli_json_as(&sec, &["gate", kind, "2.1.0", &report(f)]);
    }
    s.cli_json_as(&sec, &["checklist", "sign", "2.1.0", "security"]);
    // Everything signed, but still a draft: go comes after the feature freeze (R-REL-4).
    assert_refused(
        &s.cli_as(&po, &["approve", "2.1.0"]),
        1,
        "no go for 2.1.0: the release is a draft: it is approved only after its feature freeze",
    );
    s.cli_json(&["release", "freeze", "2.1.0"]);
    let c = s.cli_json_as(&po, &["approve", "2.1.0"]);
    assert_eq!(c["state"], "approved");
    assert_eq!(c["blockers"], json!([]));
    let m = item(&c, "management");
    assert_eq!(m["status"], "done");
    assert!(
        m["signed_by"]
            .as_str()
            .unwrap()
            .starts_with("test-product_owner (")
    );
    assert_eq!(c["decisions"][1]["decision"], "go");
    // The checklist is closed now.
    assert_refused(
        &s.cli_as(&ops, &["checklist", "sign", "2.1.0", "ops"]),
        1,
        "closed with the go decision",
    );

    let audit = String::from_utf8(s.cli(&["audit", "export"]).stdout).unwrap();
    for action in ["checklist.sign", "release.no_go", "release.approve"] {
        assert!(
            audit.contains(&format!("\"action\":\"{action}\"")),
            "{action}"
        );
    }
    // Each entry names the role that was used.
    for role in [
        "qa_lead",
        "security_engineer",
        "oncall_devops",
        "support_lead",
        "product_owner",
    ] {
        assert!(
            audit.contains(&format!(" as {role}\"")),
            "{role} not recorded: {audit}"
        );
    }
}

async fn a_hotfix_can_waive_items(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    s.upload(
        w,
        "2.1.0",
        "windows-x64",
        "WIZARD-2.1.0.msi",
        &test_bytes(5000, 1),
    );
    s.approve("2.1.0");
    s.cli_json(&["release", "create", "2.1.1", "--go-live", "2027-03-20"]);
    s.upload(
        w,
        "2.1.1",
        "windows-x64",
        "WIZARD-2.1.1.msi",
        &test_bytes(5000, 2),
    );
    s.cli_json(&["release", "freeze", "2.1.1"]);
    let po = s.as_role("product_owner");
    // QA and Security cannot finish in time; Ops and Support did.
    s.cli_json_as(
        &s.as_role("oncall_devops"),
        &["checklist", "sign", "2.1.1", "ops"],
    );
    let notes = w.join("n.md");
    std::fs::write(&notes, "# hotfix\n").unwrap();
    s.cli_json(&["release", "notes", "2.1.1", notes.to_str().unwrap()]);
    s.cli_json_as(
        &s.as_role("support_lead"),
        &[
            "checklist",
            "sign",
            "2.1.1",
            "support",
            "--no-faq-change",
            "--note",
            "hotfix",
        ],
    );

    assert_refused(
        &s.cli_as(&po, &["approve", "2.1.1", "--waive", "qa"]),
        2,
        "--reason",
    );
    assert_refused(
        &s.cli_as(
            &po,
            &["approve", "2.1.1", "--waive", "management", "--reason", "x"],
        ),
        1,
        "cannot be waived",
    );
    // Waiving QA alone leaves Security's item and gates open.
    let out = s.cli_as(
        &po,
        &[
            "approve",
            "2.1.1",
            "--waive",
            "qa",
            "--reason",
            "crash on start",
        ],
    );
    assert_refused(&out, 1, "security");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("gate coverage"));
    // A failing gate blocks unless the item it feeds is waived (the product owner's call).
    let _ = s.cli(&[
        "gate",
        "scan",
        "2.1.1",
        &report("secrets-findings.baseline.json"),
    ]);
    let out = s.cli_as(&po, &["approve", "2.1.1", "--waive", "qa", "--reason", "x"]);
    assert_refused(&out, 1, "gate secrets failed");
    let c = s.cli_json_as(
        &po,
        &[
            "approve",
            "2.1.1",
            "--waive",
            "qa",
            "--waive",
            "security",
            "--reason",
            "crash on start in 2.1.0, fix must ship today",
        ],
    );
    // Separation of duties (issue 15, 2): the waiver waits for a second person; until then
    // nothing is approved or published, and the product owner cannot confirm it alone.
    assert_ne!(c["state"], "approved", "{c}");
    assert_eq!(c["decisions"][0]["decision"], "go_pending");
    assert_eq!(item(&c, "qa")["status"], "open");
    assert!(
        c["blockers"][0]
            .as_str()
            .unwrap()
            .contains("awaits a second person"),
        "{c}"
    );
    let said = String::from_utf8(
        s.cli_as(
            &po,
            &[
                "approve", "2.1.1", "--waive", "qa", "--waive", "security", "--reason", "again",
            ],
        )
        .stdout,
    )
    .unwrap();
    assert!(
        said.contains("takes effect once a second person confirms it"),
        "{said}"
    );
    assert_refused(
        &s.cli_as(&po, &["approve", "2.1.1", "--confirm"]),
        1,
        "a second person confirms it",
    );
    assert_refused(
        &s.cli_as(&s.as_role("qa_lead"), &["approve", "2.1.1", "--confirm"]),
        1,
        "release.confirm_waiver",
    );
    let c = s.cli_json_as(
        &s.as_role("oncall_devops"),
        &["approve", "2.1.1", "--confirm"],
    );
    assert_eq!(c["state"], "approved");
    assert_eq!(item(&c, "qa")["status"], "waived");
    assert_eq!(item(&c, "security")["status"], "waived");
    assert_eq!(item(&c, "ops")["status"], "done");
    let go = c["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(go["decision"], "go");
    assert_eq!(go["waived"], json!(["qa", "security"]));
    assert!(
        go["decided_by"]
            .as_str()
            .unwrap()
            .starts_with("test-product_owner (")
    );
    assert!(
        go["confirmed_by"]
            .as_str()
            .unwrap()
            .starts_with("test-oncall_devops ("),
        "{go}"
    );
    let human = String::from_utf8(s.cli(&["checklist", "show", "2.1.1"]).stdout).unwrap();
    assert!(human.contains("waived: qa, security"), "{human}");
    let audit = String::from_utf8(s.cli(&["audit", "export"]).stdout).unwrap();
    assert!(
        audit.contains("\"waived\":[\"qa\",\"security\"]"),
        "{audit}"
    );
}

/// R-REL-6: a `.dmg` without a notarization id or an `.msi` without an Authenticode signer
/// blocks go, and says how to mend it.
async fn go_needs_platform_signing_evidence(b: Backend) {
    let env = TestEnv::new(b).await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    let file = |name: &str, seed: u8| {
        let p = work.path().join(name);
        std::fs::write(&p, test_bytes(3000, seed)).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let (dmg, msi) = (file("W.dmg", 1), file("W.msi", 2));
    s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "macos-universal",
        &dmg,
    ]);
    s.cli_json(&[
        "artifact",
        "upload",
        "2.1.0",
        "--platform",
        "windows-x64",
        &msi,
    ]);
    s.ready("2.1.0");
    let po = s.as_role("product_owner");
    let out = s.cli_as(&po, &["approve", "2.1.0"]);
    assert_refused(
        &out,
        1,
        "W.dmg has no notarization id: upload it again with --notarization-id",
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("W.msi has no Authenticode signer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rm = s.as_role("release_manager");
    for (f, platform, flag, value) in [
        (
            &dmg,
            "macos-universal",
            "--notarization-id",
            "2efe2717-1c3f-4b7e-9a61-8d2f5c0e4b11",
        ),
        (
            &msi,
            "windows-x64",
            "--authenticode-signer",
            "CN=Wizard GmbH",
        ),
    ] {
        s.cli_json_as(
            &rm,
            &[
                "artifact",
                "upload",
                "2.1.0",
                "--platform",
                platform,
                f,
                flag,
                value,
                "--critical-fix",
                "--reason",
                "signing evidence",
            ],
        );
    }
    assert_eq!(
        s.cli_json_as(&po, &["approve", "2.1.0"])["state"],
        "approved"
    );
}
