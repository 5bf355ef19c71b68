//! The `[preview]` section: the bound of a change preview (docs/api.md#change-preview).

use serde::Deserialize;

/// `[preview]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPreview {
    max_records: Option<u64>,
}

/// Change previews.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// Most click records one preview replays (the newest of its period).
    pub max_records: u64,
}

impl Default for Preview {
    fn default() -> Preview {
        Preview {
            max_records: 1_000_000,
        }
    }
}

impl super::Validator<'_> {
    pub(super) fn preview(&mut self, raw: RawPreview) -> Preview {
        let d = Preview::default();
        let max_records = match raw.max_records {
            None => d.max_records,
            Some(n @ 1..=100_000_000) => n,
            Some(n) => {
                self.fail(
                    "preview.max_records",
                    format!("{n} is not between 1 and 100000000"),
                );
                d.max_records
            }
        };
        Preview { max_records }
    }
}
