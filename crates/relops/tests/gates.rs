//! Release gates end to end (R-REL-5): the real reports of coverage.py, pytest, nextest,
//! cyclonedx-py, cargo-cyclonedx, cargo-audit and detect-secrets go through the CLI; the
//! verdicts block or allow approval; bad reports change nothing.

mod common;

use common::{Backend, TestEnv, assert_refused, report, test_bytes};

backend_tests!(gates_decide_approval, bad_reports_change_nothing);

fn prepare(s: &common::Server, work: &std::path::Path) {
    s.cli_json(&["release", "create", "2.1.0", "--go-live", "2027-03-15"]);
    s.upload(
        work,
        "2.1.0",
        "macos-universal",
        "W.dmg",
        &test_bytes(10_000, 1),
    );
}

async fn gates_decide_approval(b: Backend) {
    let env = TestEnv::with_config(b, "").await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    prepare(&s, work.path());
    let qa = s.token_with(&["qa_lead"]);
    let sec = s.token_with(&["security_engineer"]);
    let support = s.token_with(&["support_agent"]);

    // Coverage 68.60 % < 70 %: the gate fails, the CLI exits 1, approval is blocked.
    let out = s.cli_as(
        &qa,
        &[
            "gate",
            "coverage",
            "2.1.0",
            &report("coverage-low.lcov.info"),
        ],
    );
    assert_refused(&out, 1, "the coverage gate of 2.1.0 failed");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("coverage gate: FAIL — 68.6% of 86 lines")
    );
    let po = s.as_role("product_owner");
    assert_refused(
        &s.cli_as(&po, &["approve", "2.1.0"]),
        1,
        "gate coverage failed",
    );
    assert_refused(
        &s.cli_as(
            &support,
            &[
                "gate",
                "coverage",
                "2.1.0",
                &report("coverage-high.lcov.info"),
            ],
        ),
        1,
        "gate.submit",
    );
    let g = s.cli_json(&[
        "gate",
        "coverage",
        "2.1.0",
        &report("coverage-high.cobertura.xml"),
    ]);
    assert_eq!(g["passed"], true);
    assert_eq!(g["summary"]["lines_valid"], 86);
    assert_eq!(g["summary"]["lines_covered"], 84);
    assert_eq!(g["evidence"][0]["name"], "coverage-high.cobertura.xml");

    // Tests: several JUnit files make one verdict; a failing run blocks.
    let out = s.cli_as(
        &qa,
        &[
            "gate",
            "tests",
            "2.1.0",
            &report("junit-pytest-pass.xml"),
            &report("junit-nextest-fail.xml"),
        ],
    );
    assert_refused(&out, 1, "the tests gate of 2.1.0 failed");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("failed: "),
        "failing cases are named"
    );
    let t = s.cli_json(&[
        "gate",
        "tests",
        "2.1.0",
        &report("junit-pytest-pass.xml"),
        &report("junit-nextest-pass.xml"),
    ]);
    assert_eq!(t["passed"], true);
    assert_eq!(t["summary"]["tests"], 24);
    assert_eq!(t["evidence"].as_array().unwrap().len(), 2);

    // SBOM: a requirements-file SBOM has no licences (unknown: fails); the environment one passes.
    assert_refused(
        &s.cli_as(
            &sec,
            &[
                "gate",
                "sbom",
                "2.1.0",
                &report("sbom-python-requirements.cdx.json"),
            ],
        ),
        1,
        "sbom gate",
    );
    assert_eq!(
        s.cli_json(&["gate", "sbom", "2.1.0", &report("sbom-python-env.cdx.json")])["passed"],
        true
    );

    // Scans: a critical and a high vulnerability block; a secrets finding blocks.
    let out = s.cli_as(
        &sec,
        &["gate", "scan", "2.1.0", &report("vulns-cargo-audit.json")],
    );
    assert_refused(&out, 1, "the vulnerabilities gate of 2.1.0 failed");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("RUSTSEC-2021-0003 smallvec 1.6.0: critical")
    );
    let out = s.cli_as(
        &sec,
        &[
            "gate",
            "scan",
            "2.1.0",
            &report("secrets-findings.baseline.json"),
        ],
    );
    assert_refused(&out, 1, "the secrets gate of 2.1.0 failed");
    // OSV-Scanner and Grype reports of the same project reach the same verdict; a gitleaks
    // finding blocks too, and its evidence is kept without the secret.
    for name in ["modelled/osv-scanner.json", "modelled/grype.json"] {
        let out = s.cli_as(&sec, &["gate", "scan", "2.1.0", &report(name)]);
        assert_refused(&out, 1, "the vulnerabilities gate of 2.1.0 failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("smallvec 1.6.0: critical"),
            "{name}: {stdout}"
        );
        assert!(stdout.contains("regex 1.5.4: high"), "{name}: {stdout}");
    }
    let out = s.cli_as(
        &sec,
        &["gate", "scan", "2.1.0", &report("modelled/gitleaks.json")],
    );
    assert_refused(&out, 1, "the secrets gate of 2.1.0 failed");
    let gate = s.cli_json(&["gate", "list", "2.1.0"])["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["gate"] == "secrets")
        .cloned()
        .unwrap();
    assert_eq!(gate["summary"]["tool"], "gitleaks");
    assert_eq!(gate["summary"]["secrets"].as_array().unwrap().len(), 2);
    let sha = gate["evidence"][0]["sha256"].as_str().unwrap();
    let kept = env
        .blobs()
        .get_raw(&format!("evidence/{sha}"))
        .await
        .unwrap();
    let kept = String::from_utf8(kept.to_vec()).unwrap();
    assert!(kept.contains("aws-access-token"), "{kept}");
    assert!(
        !kept.contains("AKIAIOSFODNN7EXAMPLE"),
        "the secret was kept: {kept}"
    );
    let out = s.cli_as(&po, &["approve", "2.1.0"]);
    assert_refused(&out, 1, "gate secrets failed");
    assert_refused(&out, 1, "gate vulnerabilities failed");
    s.cli_json(&[
        "gate",
        "scan",
        "2.1.0",
        &report("vulns-cargo-audit-clean.json"),
    ]);
    s.cli_json(&[
        "gate",
        "scan",
        "2.1.0",
        &report("secrets-clean.baseline.json"),
    ]);

    let list = s.cli_json(&["gate", "list", "2.1.0"]);
    let names: Vec<&str> = list["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["gate"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["coverage", "sbom", "secrets", "tests", "vulnerabilities"]
    );
    assert!(
        list["gates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["passed"] == true)
    );
    let human = String::from_utf8(s.cli(&["gate", "list", "2.1.0"]).stdout).unwrap();
    assert!(human.contains("97.67% of 86 lines"), "{human}");

    // Evidence is kept in the blob store, by content.
    let kept = env.blobs().keys("evidence").await.unwrap();
    assert!(kept.len() >= 9, "{kept:?}");

    assert_eq!(s.approve("2.1.0")["state"], "approved");
    assert_refused(
        &s.cli(&[
            "gate",
            "coverage",
            "2.1.0",
            &report("coverage-high.lcov.info"),
        ]),
        1,
        "gates are settled",
    );
}

async fn bad_reports_change_nothing(b: Backend) {
    let env = TestEnv::with_config(
        b,
        "[gates]\nrequired = [\"coverage\", \"tests\"]\nmax_report_bytes = 200000\n",
    )
    .await;
    let s = env.serve();
    let work = tempfile::tempdir().unwrap();
    prepare(&s, work.path());
    let po = s.as_role("product_owner");
    let out = s.cli_as(&po, &["approve", "2.1.0"]);
    assert_refused(&out, 1, "gate coverage missing; gate tests missing");
    s.cli_json(&[
        "gate",
        "coverage",
        "2.1.0",
        &report("coverage-high.lcov.info"),
    ]);
    let before = s.cli_json(&["gate", "list", "2.1.0"]);

    let truncated = work.path().join("truncated.xml");
    let full = std::fs::read(report("coverage-high.cobertura.xml")).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let huge = work.path().join("huge.info");
    std::fs::write(&huge, "SF:a.py\n".repeat(40_000)).unwrap(); // 320 KB: 10x a real one here
    for (kind, file, needle) in [
        (
            "coverage",
            truncated.to_str().unwrap().to_owned(),
            "truncated",
        ),
        (
            "coverage",
            report("junit-pytest-pass.xml"),
            "not <coverage>",
        ),
        (
            "coverage",
            huge.to_str().unwrap().to_owned(),
            "max_report_bytes",
        ),
        (
            "sbom",
            report("coverage-high.cobertura.xml"),
            "not a CycloneDX JSON report",
        ),
        (
            "tests",
            report("sbom-python-env.cdx.json"),
            "not a JUnit XML report",
        ),
        (
            "scan",
            report("sbom-python-env.cdx.json"),
            "found none of the fields that identify one",
        ),
    ] {
        assert_refused(&s.cli(&["gate", kind, "2.1.0", &file]), 1, needle);
    }
    assert_eq!(
        s.cli_json(&["gate", "list", "2.1.0"]),
        before,
        "a refused report changed a gate"
    );
    assert_eq!(
        s.cli(&["gate", "coverage", "2.1.0", "/nonexistent.info"])
            .status
            .code(),
        Some(2)
    );
    assert_refused(
        &s.cli_as(&po, &["approve", "2.1.0"]),
        1,
        "gate tests missing",
    );
}
