//! TLS for outbound requests: rustls (ring) with the Mozilla roots compiled in
//! (`webpki-roots`, so that a container without CA files verifies public servers) and, when
//! configured, the certificates of one more PEM file (a private CA, a test's own).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// The client configuration: public roots plus those of `extra_ca` (a PEM file), HTTP/1.1
/// offered by ALPN.
pub fn config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = extra_ca {
        let shown = crate::files::Resolved(path);
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| format!("{shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("{shown}: holds no PEM certificate"));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{shown}: a certificate is not usable as a root: {e}"))?;
        }
    }
    // ring, not aws-lc-rs: aws-lc-rs needs cmake and a C build on every machine that builds
    // smartlink. rustls 0.23.48 deprecated ring's provider for its lack of post-quantum key
    // exchange; what goes out here (health probes, partner postbacks) is not secret for
    // decades, so the classical key exchange is enough.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
