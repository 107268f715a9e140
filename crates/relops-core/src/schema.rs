//! JSON Schemas of the domain types the API shows (feature `schema`, for the server's
//! OpenAPI document): each as the string it is written as, closed sets as `enum`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::access::Role;
use crate::artifact::ArtifactKind;
use crate::health::Verdict;
use crate::platform::Platform;
use crate::release::ReleaseState;
use crate::version::{ReleaseKind, Version};

/// A closed set of names.
macro_rules! names {
    ($t:ty, $name:literal, $doc:literal, $all:expr) => {
        impl JsonSchema for $t {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                let names: Vec<&str> = $all.iter().map(|x| x.as_str()).collect();
                json_schema!({ "type": "string", "enum": names, "description": $doc })
            }
        }
    };
}

names!(
    Platform,
    "Platform",
    "A target platform relops ships to.",
    Platform::ALL
);
names!(Role, "Role", "A role a token holds.", Role::ALL);
names!(
    ReleaseState,
    "ReleaseState",
    "Where a release stands: draft → frozen → candidate → approved → piloting → rolling_out → released; side exits halted, rolled_back, withdrawn.",
    ReleaseState::ALL
);
names!(
    ReleaseKind,
    "ReleaseKind",
    "The kind of a release, inferred from the versions before it.",
    [ReleaseKind::Major, ReleaseKind::Minor, ReleaseKind::Patch]
);
names!(
    ArtifactKind,
    "ArtifactKind",
    "An artifact's file kind, from its name.",
    ArtifactKind::ALL
);
names!(
    Verdict,
    "Verdict",
    "The health gate's verdict: unknown (too few installs), undecided, passing, failing.",
    [
        Verdict::Unknown,
        Verdict::Undecided,
        Verdict::Passing,
        Verdict::Failing
    ]
);

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$",
            "description": "A release version, MAJOR.MINOR.PATCH (SemVer, no pre-release or build part).",
            "examples": ["2.1.0"],
        })
    }
}
