//! Rollback-safe data (R-RB-7): a release declares the schema version of the data its app
//! writes (project files, the local database) and the oldest schema its down-migrations
//! reach. Going back from release X to an older release T is safe when T reads a schema
//! X's data can be migrated down to: `T.schema >= X.downgrades_to`. A rollback across that
//! line leaves users with files the older app cannot open.

use serde::{Deserialize, Serialize};

/// A release's data-schema facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DataSchema {
    /// The schema the release writes.
    pub schema: u32,
    /// The oldest schema its down-migrations bring data back to (`schema` when it has
    /// none).
    pub downgrades_to: u32,
}

impl DataSchema {
    /// From what a release declares: `downgrades_to` defaults to `schema` (no
    /// down-migrations) and may not be above it.
    pub fn declare(schema: u32, downgrades_to: Option<u32>) -> Result<Self, String> {
        let downgrades_to = downgrades_to.unwrap_or(schema);
        if downgrades_to > schema {
            return Err(format!(
                "--downgrades-to {downgrades_to} is above --data-schema {schema}: down-migrations lead to older schemas"
            ));
        }
        Ok(Self {
            schema,
            downgrades_to,
        })
    }

    /// Whether data written by a release with these facts can be brought back to what
    /// `older` reads. Unknown facts on either side decide nothing (`None`).
    pub fn can_go_back_to(from: Option<Self>, older: Option<Self>) -> Option<bool> {
        let (from, older) = (from?, older?);
        Some(older.schema >= from.downgrades_to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_migrations_decide_how_far_back_data_goes() {
        let x = DataSchema::declare(7, Some(5)).unwrap();
        let reads = |s| Some(DataSchema::declare(s, None).unwrap());
        assert_eq!(DataSchema::can_go_back_to(Some(x), reads(7)), Some(true));
        assert_eq!(DataSchema::can_go_back_to(Some(x), reads(5)), Some(true));
        assert_eq!(DataSchema::can_go_back_to(Some(x), reads(4)), Some(false));
        assert_eq!(DataSchema::can_go_back_to(Some(x), None), None);
        assert_eq!(DataSchema::can_go_back_to(None, reads(1)), None);
        let none = DataSchema::declare(7, None).unwrap();
        assert_eq!(none.downgrades_to, 7);
        assert_eq!(
            DataSchema::can_go_back_to(Some(none), reads(6)),
            Some(false)
        );
        assert!(DataSchema::declare(5, Some(7)).is_err());
    }
}
