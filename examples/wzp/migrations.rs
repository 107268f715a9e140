// The sample `.wzp` format's migrations (a JSON body under a `WZP <schema>` header), as a
// WIZARD release that writes schema 7 would register them with relops_client::project.
// Used by the SDK's tests (crates/relops-client/src/project/tests.rs) on the files here.

/// The registry of a release writing `schema` (5, 6 or 7).
pub fn migrations(schema: u32) -> relops_client_project::Migrations {
    let json = |body: &[u8]| -> Result<serde_json::Map<String, serde_json::Value>, String> {
        serde_json::from_slice(body).map_err(|e| format!("not a project body: {e}"))
    };
    let out = |doc: serde_json::Map<String, serde_json::Value>| -> Result<Vec<u8>, String> {
        let mut v = serde_json::to_vec(&doc).map_err(|e| e.to_string())?;
        v.push(b'\n');
        Ok(v)
    };
    let mut m = relops_client_project::Migrations::new("WZP", schema);
    if schema >= 6 {
        // 5 → 6: `title` is called `name`.
        m = m.step(
            5,
            move |b| {
                let mut d = json(b)?;
                let t = d.remove("title").ok_or("no title")?;
                d.insert("name".into(), t);
                out(d)
            },
            move |b| {
                let mut d = json(b)?;
                let n = d.remove("name").ok_or("no name")?;
                d.insert("title".into(), n);
                out(d)
            },
        );
    }
    if schema >= 7 {
        // 6 → 7: lengths get a unit (millimetres before).
        m = m.step(
            6,
            move |b| {
                let mut d = json(b)?;
                d.insert("units".into(), "mm".into());
                out(d)
            },
            move |b| {
                let mut d = json(b)?;
                if d.remove("units").is_some_and(|u| u != "mm") {
                    return Err("only millimetres existed before schema 7".into());
                }
                out(d)
            },
        );
    }
    m
}
