//! Reading the catalog file: JSON text → located entities → typed [`Catalog`] → validated.
//!
//! Each entity is kept as raw JSON first, so that a type error in one offer is reported with
//! its file line and JSON path and does not hide the problems of the others. Consistency
//! problems (`validate`) are then mapped back to the line where their entity starts.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::model::Catalog;
use super::save::FileStamp;
use super::validate::{self, Kind, KnownIds, ValidCatalog};

/// One problem with the catalog file: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    pub file: PathBuf,
    /// 1-based line of the problem, or of the entity that holds it.
    pub line: Option<usize>,
    /// JSON path of the offending value (empty for file-level problems).
    pub path: String,
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for CatalogError {}

/// Reads, parses and validates the catalog at `path`; also returns the stamp of the file
/// version read. (The stamp is taken first: if the file changes while it is read, the stamp
/// is the older one, and a later API write refuses to overwrite the newer file.)
pub fn load(path: &Path) -> Result<(ValidCatalog, FileStamp), Vec<CatalogError>> {
    let unreadable = |e: std::io::Error| {
        vec![CatalogError {
            file: path.to_path_buf(),
            line: None,
            path: String::new(),
            message: format!("cannot read {}: {e}", crate::files::Resolved(path)),
        }]
    };
    let stamp = FileStamp::of(path).map_err(unreadable)?;
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    Ok((parse(path, &text)?, stamp))
}

/// The six entity lists, each entity still raw JSON borrowed from the file text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lists<'a> {
    #[serde(borrow, default)]
    affiliates: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    offers: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    landing_pages: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    creatives: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    campaigns: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    smart_links: Vec<&'a RawValue>,
}

/// Parses and validates catalog text; `path` is used in messages only.
pub fn parse(path: &Path, text: &str) -> Result<ValidCatalog, Vec<CatalogError>> {
    let file = Parsing {
        file: path,
        text,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
    };
    let lists: Lists = serde_json::from_str(text).map_err(|e| {
        vec![CatalogError {
            file: path.to_path_buf(),
            line: Some(e.line()),
            path: String::new(),
            message: strip_position(&e),
        }]
    })?;

    let mut errors = Vec::new();
    let mut broken = KnownIds::default();
    let mut located = Located::default();
    let catalog = Catalog {
        affiliates: file.entities(
            Kind::Affiliates,
            &lists.affiliates,
            &mut located,
            &mut errors,
            &mut broken,
        ),
        offers: file.entities(
            Kind::Offers,
            &lists.offers,
            &mut located,
            &mut errors,
            &mut broken,
        ),
        landing_pages: file.entities(
            Kind::LandingPages,
            &lists.landing_pages,
            &mut located,
            &mut errors,
            &mut broken,
        ),
        creatives: file.entities(
            Kind::Creatives,
            &lists.creatives,
            &mut located,
            &mut errors,
            &mut broken,
        ),
        campaigns: file.entities(
            Kind::Campaigns,
            &lists.campaigns,
            &mut located,
            &mut errors,
            &mut broken,
        ),
        smart_links: file.entities(
            Kind::SmartLinks,
            &lists.smart_links,
            &mut located,
            &mut errors,
            &mut broken,
        ),
    };
    let valid = match validate::validate_with(catalog, &broken) {
        Ok(valid) => Some(valid),
        Err(problems) => {
            for p in problems {
                let (index, line) = located.get(p.kind, p.index);
                errors.push(CatalogError {
                    file: path.to_path_buf(),
                    line: Some(line),
                    path: format!("{}[{index}]{}", p.kind.key(), p.field),
                    message: p.message,
                });
            }
            None
        }
    };
    match valid {
        Some(valid) if errors.is_empty() => Ok(valid),
        _ => {
            errors.sort_by_key(|e| e.line);
            Err(errors)
        }
    }
}

/// For each kind, the file index and start line of every entity that parsed, in catalog order.
#[derive(Default)]
struct Located {
    entries: HashMap<Kind, Vec<(usize, usize)>>,
}

impl Located {
    fn push(&mut self, kind: Kind, file_index: usize, line: usize) {
        self.entries
            .entry(kind)
            .or_default()
            .push((file_index, line));
    }

    fn get(&self, kind: Kind, catalog_index: usize) -> (usize, usize) {
        self.entries
            .get(&kind)
            .and_then(|v| v.get(catalog_index).copied())
            .unwrap_or((catalog_index, 0))
    }
}

struct Parsing<'a> {
    file: &'a Path,
    text: &'a str,
    line_starts: Vec<usize>,
}

impl Parsing<'_> {
    /// 1-based line of a byte offset into the file text.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// Byte offset of a raw value borrowed from the file text.
    fn offset_of(&self, raw: &RawValue) -> usize {
        (raw.get().as_ptr() as usize).saturating_sub(self.text.as_ptr() as usize)
    }

    /// Deserializes one list; entities that fail are reported and their ids remembered.
    fn entities<T: DeserializeOwned>(
        &self,
        kind: Kind,
        raws: &[&RawValue],
        located: &mut Located,
        errors: &mut Vec<CatalogError>,
        broken: &mut KnownIds,
    ) -> Vec<T> {
        let mut out = Vec::with_capacity(raws.len());
        for (i, raw) in raws.iter().enumerate() {
            let start_line = self.line_of(self.offset_of(raw));
            let mut de = serde_json::Deserializer::from_str(raw.get());
            match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Ok(entity) => {
                    located.push(kind, i, start_line);
                    out.push(entity);
                }
                Err(e) => {
                    let field = e.path().to_string();
                    let inner = e.into_inner();
                    errors.push(CatalogError {
                        file: self.file.to_path_buf(),
                        line: Some(start_line + inner.line().saturating_sub(1)),
                        path: match field.as_str() {
                            "." => format!("{}[{i}]", kind.key()),
                            f => format!("{}[{i}].{f}", kind.key()),
                        },
                        message: strip_position(&inner),
                    });
                    if let Some(id) = serde_json::from_str::<serde_json::Value>(raw.get())
                        .ok()
                        .and_then(|v| v.get(kind.id_field())?.as_u64())
                        .and_then(|id| u32::try_from(id).ok())
                    {
                        broken.ids.entry(kind).or_default().insert(id);
                    }
                }
            }
        }
        out
    }
}

/// serde_json's message without its " at line L column C" suffix (we report our own line).
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(Path::new("n.json"), text)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn syntax_error_names_its_line() {
        assert_eq!(
            errors("{\n  \"offers\": [\n    {,}\n  ]\n}"),
            ["n.json:3: key must be a string"]
        );
    }

    #[test]
    fn unknown_top_level_key_is_an_error() {
        let e = errors("{\"ofers\": []}");
        assert!(e[0].starts_with("n.json:1: unknown field `ofers`"), "{e:?}");
    }

    #[test]
    fn type_errors_and_consistency_errors_are_all_reported_with_lines() {
        let text = r#"{
  "affiliates": [{"affiliate_id": 1, "affiliate_name": "A"}],
  "offers": [
    {"offer_id": 10, "offer_name": "Broken", "offer_status": "actve",
     "offer_url": "https://x.example/"},
    {"offer_id": 11, "offer_name": "Ok", "offer_status": "active",
     "offer_url": "https://x.example/?c={clickid}"}
  ],
  "smart_links": [
    {"smart_link_id": 5, "smart_link_name": "L", "affiliate_id": 1,
     "smart_link_status": "active",
     "offers": [{"offer_id": 10}, {"offer_id": 12, "offer_wieght": 3}, {"offer_id": 13}]}
  ]
}"#;
        assert_eq!(
            errors(text),
            [
                "n.json:4: offers[0].offer_status: unknown variant `actve`, expected one of `active`, `paused`, `deleted`",
                "n.json:6: offers[1].offer_url: \"https://x.example/?c={clickid}\" uses an unknown macro {clickid}; known: click_id, smart_link_id, campaign_id, affiliate_id, offer_id, s1, s2, s3, s4, s5, country, device, os",
                "n.json:12: smart_links[0].offers[1].offer_wieght: unknown field `offer_wieght`, expected one of `offer_id`, `offer_weight`, `priority`, `affiliate_payout`, `devices`, `exclude_devices`, `os`, `exclude_os`, `browsers`, `exclude_browsers`, `ip_ranges`, `exclude_ip_ranges`, `countries`, `exclude_countries`, `regions`, `exclude_regions`, `params`, `exclude_params`, `schedule`, `exclude_schedule`, `asns`, `exclude_asns`, `only_anonymous`, `exclude_anonymous`, `languages`, `exclude_languages`, `referrer_domains`, `exclude_referrer_domains`",
            ]
        );
    }

    #[test]
    fn a_rotation_other_than_random_exact_or_optimized_is_refused_at_its_path() {
        let text = r#"{
  "affiliates": [{"affiliate_id": 1, "affiliate_name": "A"}],
  "smart_links": [
    {"smart_link_id": 5, "smart_link_name": "L", "affiliate_id": 1,
     "smart_link_status": "active", "rotation": "exact"},
    {"smart_link_id": 6, "smart_link_name": "M", "affiliate_id": 1,
     "smart_link_status": "active", "rotation": "weighted"}
  ]
}"#;
        assert_eq!(
            errors(text),
            [
                "n.json:7: smart_links[1].rotation: unknown variant `weighted`, expected one of `random`, `exact`, `optimized`"
            ]
        );
    }

    #[test]
    fn dangling_reference_is_reported_at_the_entity_line() {
        let text = r#"{
  "affiliates": [{"affiliate_id": 1, "affiliate_name": "A"}],
  "smart_links": [
    {"smart_link_id": 5, "smart_link_name": "L", "affiliate_id": 1,
     "smart_link_status": "active", "offers": [{"offer_id": 13}]}
  ]
}"#;
        assert_eq!(
            errors(text),
            ["n.json:4: smart_links[0].offers[0].offer_id: offer 13 does not exist"]
        );
    }

    #[test]
    fn empty_object_is_an_empty_catalog() {
        assert_eq!(
            *parse(Path::new("n.json"), "{}").unwrap(),
            Catalog::default()
        );
    }

    proptest::proptest! {
        /// A damaged catalog (bytes deleted or replaced anywhere) is loaded or rejected with
        /// at least one located error; it never panics.
        #[test]
        fn damaged_catalogs_never_panic(cuts in proptest::collection::vec((0usize..4000, proptest::num::u8::ANY), 1..6)) {
            let mut bytes = include_bytes!("../../config/network.json").to_vec();
            for (at, b) in cuts {
                let at = at % bytes.len();
                if b % 2 == 0 { bytes.remove(at); } else { bytes[at] = b; }
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Err(errors) = parse(Path::new("n.json"), &text) {
                proptest::prop_assert!(!errors.is_empty());
                proptest::prop_assert!(errors.iter().all(|e| e.line.is_some()));
            }
        }
    }
}
