//! Rewrites `docs/openapi.json` with its generated parts made again from the code (each
//! call's parameters or request body, the entities' condition fields; `api::openapi`). Run
//! it after changing a call, a parameter or a targeting dimension:
//!
//! ```text
//! cargo run --example openapi
//! ```

fn main() -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
    let written = std::fs::read_to_string(path)?;
    let generated = smartlink::api::openapi::render(&smartlink::api::openapi::document(&written));
    if generated == written {
        println!("{path} is up to date");
    } else {
        smartlink::files::write_atomically(std::path::Path::new(path), generated.as_bytes())?;
        println!("{path} rewritten");
    }
    Ok(())
}
