//! Writing the catalog back (management API): one entity per line, replaced atomically.
//!
//! The file stays pleasant to edit by hand: the six lists in file order, each entity compact
//! on its own line, and a smart link's attachments one per line under it. It is written in
//! two steps, [`stage`] (a temporary file beside the catalog, fsynced) and
//! `files::Staged::commit` (rename over the catalog, fsync of the directory), so a reader or
//! a restart after `kill -9` sees the old catalog or the new one, never a mix, and a write
//! can still be abandoned between the two.
//!
//! [`FileStamp`] identifies the version of the file a snapshot was built from, so that a
//! write can tell that someone edited the file by hand since (and refuse to overwrite it).

use std::fs::Metadata;
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

use super::model::{Catalog, LinkStatus, Rotation, SmartLink};
use crate::files::Staged;

/// What identifies one version of a file without reading it: inode, length, modification
/// time. An atomic replacement changes the inode; an in-place edit changes length or mtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    pub fn of(path: &Path) -> io::Result<FileStamp> {
        Ok(FileStamp::from(&std::fs::metadata(path)?))
    }
}

impl From<&Metadata> for FileStamp {
    fn from(m: &Metadata) -> FileStamp {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(m);
        #[cfg(not(unix))]
        let inode = 0;
        FileStamp {
            inode,
            len: m.len(),
            modified: m.modified().ok(),
        }
    }
}

/// Writes `catalog` beside `path`, fsynced, ready to be committed over it. The stamp of the
/// file once committed is `FileStamp::from(staged.metadata())`.
pub fn stage(path: &Path, catalog: &Catalog) -> io::Result<Staged> {
    crate::files::stage(path, &render(catalog)?)
}

/// The catalog as file text.
pub fn render(c: &Catalog) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64 + 256 * (c.campaigns.len() + c.smart_links.len() * 4));
    out.extend_from_slice(b"{\n");
    list(&mut out, "affiliates", &c.affiliates, entity)?;
    out.extend_from_slice(b",\n");
    list(&mut out, "offers", &c.offers, entity)?;
    out.extend_from_slice(b",\n");
    list(&mut out, "landing_pages", &c.landing_pages, entity)?;
    out.extend_from_slice(b",\n");
    list(&mut out, "creatives", &c.creatives, entity)?;
    out.extend_from_slice(b",\n");
    list(&mut out, "campaigns", &c.campaigns, entity)?;
    out.extend_from_slice(b",\n");
    list(&mut out, "smart_links", &c.smart_links, smart_link)?;
    out.extend_from_slice(b"\n}\n");
    Ok(out)
}

/// `"key": [` one item per line `]` at the top level of the file.
fn list<T>(
    out: &mut Vec<u8>,
    key: &str,
    items: &[T],
    write: fn(&mut Vec<u8>, &T) -> io::Result<()>,
) -> io::Result<()> {
    write!(out, "  \"{key}\": ")?;
    array(out, "  ", items, write)
}

/// A JSON array with one item per line, indented one step deeper than `indent`; `[]` when
/// empty.
fn array<T>(
    out: &mut Vec<u8>,
    indent: &str,
    items: &[T],
    write: fn(&mut Vec<u8>, &T) -> io::Result<()>,
) -> io::Result<()> {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        write!(out, "{indent}  ")?;
        write(out, item)?;
    }
    if !items.is_empty() {
        write!(out, "\n{indent}")?;
    }
    out.push(b']');
    Ok(())
}

fn entity<T: Serialize>(out: &mut Vec<u8>, item: &T) -> io::Result<()> {
    serde_json::to_writer(out, item).map_err(io::Error::other)
}

/// A smart link without its attachments, which are written one per line after it.
#[derive(Serialize)]
struct LinkHead<'a> {
    smart_link_id: u32,
    smart_link_name: &'a str,
    affiliate_id: u32,
    smart_link_status: LinkStatus,
    fallback_url: &'a Option<String>,
    #[serde(skip_serializing_if = "Rotation::is_random")]
    rotation: Rotation,
    #[serde(skip_serializing_if = "Option::is_none")]
    optimize_window_hours: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    optimize_min_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postback_url: &'a Option<String>,
}

fn smart_link(out: &mut Vec<u8>, s: &SmartLink) -> io::Result<()> {
    entity(
        out,
        &LinkHead {
            smart_link_id: s.smart_link_id,
            smart_link_name: &s.smart_link_name,
            affiliate_id: s.affiliate_id,
            smart_link_status: s.smart_link_status,
            fallback_url: &s.fallback_url,
            rotation: s.rotation,
            optimize_window_hours: s.optimize_window_hours,
            optimize_min_share: s.optimize_min_share,
            postback_url: &s.postback_url,
        },
    )?;
    out.pop(); // the head's closing brace
    out.extend_from_slice(b",\"offers\":");
    array(out, "    ", &s.offers, entity)?;
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Catalog {
        serde_json::from_str(include_str!("../../config/network.json")).unwrap()
    }

    #[test]
    fn rendered_catalog_reads_back_identical_and_valid() {
        let c = demo();
        let text = String::from_utf8(render(&c).unwrap()).unwrap();
        let back = super::super::load::parse(Path::new("t.json"), &text).unwrap();
        assert_eq!(*back, c);
        // One entity per line: every campaign id starts a line of its own.
        for x in &c.campaigns {
            let needle = format!("\n    {{\"campaign_id\":{},", x.campaign_id);
            assert!(text.contains(&needle), "{needle} in\n{text}");
        }
    }

    #[test]
    fn one_entity_per_line_and_attachments_under_their_link() {
        let c: Catalog = serde_json::from_str(
            r#"{"affiliates":[{"affiliate_id":1,"affiliate_name":"A"}],
            "offers":[{"offer_id":7,"offer_name":"O","offer_status":"active","offer_url":"https://o.example/"}],
            "smart_links":[
              {"smart_link_id":3,"smart_link_name":"L","affiliate_id":1,"smart_link_status":"active",
               "offers":[{"offer_id":7},{"offer_id":7,"priority":2}]},
              {"smart_link_id":4,"smart_link_name":"E","affiliate_id":1,"smart_link_status":"inactive",
               "rotation":"exact"}]}"#,
        )
        .unwrap();
        let caps = r#""caps":{"daily_clicks":null,"daily_conversions":null,"weekly_conversions":null,"monthly_conversions":null,"total_conversions":null}"#;
        let expected = format!(
            r#"{{
  "affiliates": [
    {{"affiliate_id":1,"affiliate_name":"A"}}
  ],
  "offers": [
    {{"offer_id":7,"offer_name":"O","offer_status":"active","offer_url":"https://o.example/",{caps}}}
  ],
  "landing_pages": [],
  "creatives": [],
  "campaigns": [],
  "smart_links": [
    {{"smart_link_id":3,"smart_link_name":"L","affiliate_id":1,"smart_link_status":"active","fallback_url":null,"offers":[
      {{"offer_id":7,"offer_weight":1,"priority":1}},
      {{"offer_id":7,"offer_weight":1,"priority":2}}
    ]}},
    {{"smart_link_id":4,"smart_link_name":"E","affiliate_id":1,"smart_link_status":"inactive","fallback_url":null,"rotation":"exact","offers":[]}}
  ]
}}
"#
        );
        assert_eq!(String::from_utf8(render(&c).unwrap()).unwrap(), expected);
    }

    #[test]
    fn empty_catalog_renders_valid_json() {
        let text = render(&Catalog::default()).unwrap();
        let back: Catalog = serde_json::from_slice(&text).unwrap();
        assert_eq!(back, Catalog::default());
    }

    #[test]
    fn save_replaces_the_file_and_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("network.json");
        std::fs::write(&path, "{}").unwrap();
        let before = FileStamp::of(&path).unwrap();
        let staged = stage(&path, &demo()).unwrap();
        let after = FileStamp::from(staged.metadata());
        staged.commit().unwrap();
        assert_ne!(before, after);
        assert_eq!(after, FileStamp::of(&path).unwrap());
        let (loaded, stamp) = super::super::load(&path).unwrap();
        assert_eq!(*loaded, demo());
        assert_eq!(stamp, after);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["network.json"], "no temporary file is left behind");
    }
}
