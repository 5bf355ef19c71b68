//! The console's files (`src/console/web/`), compiled into the binary with `include_bytes!`.
//!
//! At the first request, each file gets a name holding the first hex digits of its SHA-256
//! (`core.3f2a61b0c9.js`), so that browsers may keep it for a year without ever running a
//! stale copy, and a gzip copy when that is smaller. The page (`index.html`) names every
//! file through a `{{path}}` placeholder, replaced by the hashed URL; it is the one response
//! browsers must revalidate. Nothing is read from disk at run time.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::LazyLock;

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Where the console is served.
pub const ROOT: &str = "/console/";
/// Where its hashed files are served.
pub const ASSETS: &str = "/console/assets/";
/// Hex digits of a file's SHA-256 in its served name.
const HASH_HEX: usize = 10;

/// A file of the console as the repository holds it.
struct Source {
    /// Its path under `src/console/web/`, as `index.html` names it.
    path: &'static str,
    bytes: &'static [u8],
}

macro_rules! source {
    ($path:literal) => {
        Source {
            path: $path,
            bytes: include_bytes!(concat!("web/", $path)),
        }
    };
}

/// Every file the page loads, in the order `index.html` names them.
const SOURCES: [Source; 15] = [
    source!("favicon.svg"),
    source!("vendor/uplot/uPlot.min.css"),
    source!("console.css"),
    source!("vendor/uplot/uPlot.iife.min.js"),
    source!("js/core.js"),
    source!("js/charts.js"),
    source!("js/forms.js"),
    source!("js/overview.js"),
    source!("js/links.js"),
    source!("js/explain.js"),
    source!("js/entities.js"),
    source!("js/audit.js"),
    source!("js/health.js"),
    source!("js/postbacks.js"),
    source!("js/main.js"),
];

const PAGE: &str = include_str!("web/index.html");

/// A file as it is served (`Bytes`: a response takes it without a copy).
pub struct Asset {
    pub content_type: &'static str,
    pub bytes: Bytes,
    /// The gzip copy, when it is smaller.
    pub gzip: Option<Bytes>,
}

impl Asset {
    fn new(path: &str, bytes: Bytes) -> Asset {
        Asset {
            content_type: content_type(path),
            gzip: gzip(&bytes).map(Bytes::from),
            bytes,
        }
    }
}

/// The console as served: the page, and each file by its hashed name.
pub struct Bundle {
    pub page: Asset,
    files: HashMap<String, Asset>,
}

impl Bundle {
    /// The file served as `name` (under [`ASSETS`]).
    pub fn file(&self, name: &str) -> Option<&Asset> {
        self.files.get(name)
    }
}

/// The bundle, made at the first request.
pub static BUNDLE: LazyLock<Bundle> = LazyLock::new(bundle);

fn bundle() -> Bundle {
    let mut page = PAGE.to_string();
    let mut files = HashMap::new();
    for source in &SOURCES {
        let name = hashed_name(source.path, source.bytes);
        page = page.replace(
            &format!("{{{{{}}}}}", source.path),
            &format!("{ASSETS}{name}"),
        );
        files.insert(
            name,
            Asset::new(source.path, Bytes::from_static(source.bytes)),
        );
    }
    Bundle {
        page: Asset::new("index.html", Bytes::from(page)),
        files,
    }
}

/// `js/core.js` → `core.<hash>.js`: the file name, the hash before its last extension.
fn hashed_name(path: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hash: String = digest
        .iter()
        .take(HASH_HEX / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    let file = path.rsplit('/').next().unwrap_or(path);
    match file.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{file}.{hash}"),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// `bytes` gzipped, when that is smaller.
pub fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() < bytes.len()).then_some(compressed)
}

/// Whether an `Accept-Encoding` value accepts gzip (`gzip` or `*`, not with `q=0`).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_every_file_by_its_hash_and_nothing_else() {
        let b = &*BUNDLE;
        let page = std::str::from_utf8(&b.page.bytes).unwrap();
        assert!(
            !page.contains("{{"),
            "an unknown placeholder is left: {page}"
        );
        for source in &SOURCES {
            let name = hashed_name(source.path, source.bytes);
            assert!(
                page.contains(&format!("{ASSETS}{name}")),
                "{} is not on the page",
                source.path
            );
            let asset = b.file(&name).expect("served");
            assert_eq!(asset.bytes, source.bytes);
        }
        assert_eq!(b.files.len(), SOURCES.len(), "hashed names are unique");
        // Every script and style sheet of the page is one of ours: nothing inline.
        assert!(!page.contains("<style"), "no inline style");
        assert_eq!(
            page.matches("<script").count(),
            page.matches("<script defer src=\"/console/assets/").count(),
            "no inline script"
        );
        assert!(!page.contains("style="), "no inline style attribute");
    }

    #[test]
    fn a_changed_file_gets_another_name() {
        assert_ne!(hashed_name("js/a.js", b"1"), hashed_name("js/a.js", b"2"));
        assert!(hashed_name("vendor/uplot/uPlot.min.css", b"x").starts_with("uPlot.min."));
        assert!(hashed_name("vendor/uplot/uPlot.min.css", b"x").ends_with(".css"));
    }

    #[test]
    fn gzip_copies_unpack_to_the_file() {
        use std::io::Read as _;
        for source in &SOURCES {
            let asset = Asset::new(source.path, Bytes::from_static(source.bytes));
            if let Some(gz) = &asset.gzip {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&gz[..])
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out, source.bytes, "{}", source.path);
            }
        }
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("br"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("x-gzip2"));
    }
}
