//! Connecting: connection string (a secret) -> driver config, rustls TLS, connection pool.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use secrecy::{ExposeSecret, SecretString};
use twenty_sync_core::{StoreError, StoreErrorKind, StoreResult};

use crate::config::TlsConfig;
use crate::error::Redactor;

/// Parses the connection string (URL or `key=value` form). The error never shows the string.
pub(crate) fn parse(url: &SecretString) -> StoreResult<(tokio_postgres::Config, Redactor)> {
    let raw = url.expose_secret();
    let config = tokio_postgres::Config::from_str(raw).map_err(|_| {
        StoreError::new(
            StoreErrorKind::Config,
            "postgres: the connection string could not be parsed (it is not shown because it may \
             hold a password); expected postgres://user:password@host:port/database?sslmode=prefer \
             or `host=... user=... dbname=...`",
        )
    })?;
    let mut secrets = vec![SecretString::from(raw.to_owned())];
    if let Some(pw) = config.get_password() {
        let pw = String::from_utf8_lossy(pw).into_owned();
        // The URL form percent-encodes the password; hide both spellings.
        let encoded = percent_encode(&pw);
        secrets.push(SecretString::from(pw));
        secrets.push(SecretString::from(encoded));
    }
    Ok((config, Redactor::new(secrets)))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The rustls connector for `mode`.
///
/// - `sslmode=require`: the server certificate is verified against the webpki roots and/or the
///   PEM CA file (like libpq's `verify-full`).
/// - `sslmode=prefer` (the default): opportunistic encryption, certificate not verified, exactly
///   like libpq's `prefer`; protects against passive eavesdropping only.
/// - `sslmode=disable`: the connector is never used.
pub(crate) fn tls(
    config: &TlsConfig,
    mode: tokio_postgres::config::SslMode,
) -> StoreResult<tokio_postgres_rustls::MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    if !matches!(mode, tokio_postgres::config::SslMode::Require) {
        let client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Config,
                    format!("postgres: TLS setup failed: {e}"),
                )
            })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth();
        return Ok(tokio_postgres_rustls::MakeRustlsConnect::new(client));
    }
    verified(config, provider)
}

fn verified(
    config: &TlsConfig,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> StoreResult<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    if config.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(path) = &config.ca_file {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Config,
                format!("postgres: cannot read TLS CA file {}: {e}", path.display()),
            )
        })?;
        for cert in certs {
            let cert = cert.map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Config,
                    format!(
                        "postgres: bad certificate in TLS CA file {}: {e}",
                        path.display()
                    ),
                )
            })?;
            roots.add(cert).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Config,
                    format!("postgres: unusable certificate in {}: {e}", path.display()),
                )
            })?;
        }
    }
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            StoreError::new(
                StoreErrorKind::Config,
                format!("postgres: TLS setup failed: {e}"),
            )
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(client))
}

/// `sslmode=prefer`: accepts any certificate (libpq semantics), still checks the handshake
/// signatures so the session keys belong to whoever presented the certificate.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A pooled connection last checked out longer ago than this is verified before it is handed out
/// again.
pub(crate) const VERIFY_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Checks a connection with one empty query before it is handed out again (see [`needs_check`]);
/// one that fails the query is discarded (the pool then takes another or connects anew) instead
/// of failing the caller's next statement.
///
/// A connection the server closed while it sat idle (terminated backend, failover, idle timeout
/// of a hosted database) is caught this way even when its connection task has not noticed yet.
/// One checked out within the last second was working a moment ago: verifying it too cost a round
/// trip per checkout, about fifteen per incremental pull (each page's lookup, each commit, the run's
/// bookkeeping), for a failure the caller sees anyway as a temporary error. Unless a connection
/// was found lost since it was handed out: the server may have ended it (or all of them) while
/// it was in use, and its connection task may not have read the end of the stream yet.
///
/// A connection that fails the check is dropped and replaced by the pool without a word, so the
/// check says so itself (at `info`: a hosted database closing idle connections does it daily).
fn verify_when_idle(redactor: Redactor) -> Hook {
    Hook::async_fn(move |client, metrics| {
        let idle_for = metrics.last_used();
        let handed_out = metrics.recycled.unwrap_or(metrics.created);
        let lost = redactor.lost_connections().last();
        // Only a check that runs needs the redactor (for its log line).
        let check = needs_check(idle_for, handed_out, lost).then(|| redactor.clone());
        Box::pin(async move {
            let Some(redactor) = check else {
                return Ok(());
            };
            client.simple_query("").await.map_err(|e| {
                tracing::info!(
                    idle_ms = idle_for.as_millis() as u64,
                    error = %redactor.redact(&e.to_string()),
                    "postgres: a pooled connection stopped answering; opening a new one"
                );
                HookError::Backend(e)
            })?;
            Ok(())
        })
    })
}

/// Whether a pooled connection is checked before it is handed out again: when it was last handed
/// out (at `handed_out`) [`VERIFY_IDLE_AFTER`] or longer ago (`idle_for`), or when a connection
/// was found lost (`last_loss`) since then.
fn needs_check(idle_for: Duration, handed_out: Instant, last_loss: Option<Instant>) -> bool {
    idle_for >= VERIFY_IDLE_AFTER || last_loss.is_some_and(|lost| lost >= handed_out)
}

/// A pool of at most `max` connections.
pub(crate) fn pool(
    mut pg: tokio_postgres::Config,
    tls_config: &TlsConfig,
    max: usize,
    redactor: &Redactor,
) -> StoreResult<Pool> {
    if pg.get_application_name().is_none() {
        pg.application_name("twenty-sync");
    }
    let connector = tls(tls_config, pg.get_ssl_mode())?;
    let manager = Manager::from_config(
        pg,
        connector,
        ManagerConfig {
            // A connection whose task noticed it closed is discarded at every checkout; the
            // empty query that finds the others (see `verify_when_idle`) runs only after idle.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .pre_recycle(verify_when_idle(redactor.clone()))
        .max_size(max.max(1))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| {
            StoreError::new(
                StoreErrorKind::Config,
                format!(
                    "postgres: building the pool failed: {}",
                    redactor.redact(&e.to_string())
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_checked_after_being_idle_or_after_a_loss_since_it_was_handed_out() {
        let now = Instant::now();
        let busy = Duration::from_millis(5);
        let before = now - Duration::from_millis(50);
        let after = now + Duration::from_millis(1);
        // Handed out a moment ago, no loss: handed out again as it is.
        assert!(!needs_check(busy, now, None));
        // A loss noted before it was handed out: it was used since, and worked.
        assert!(!needs_check(busy, now, Some(before)));
        // A loss noted while it was out (or at the same instant): it may be the lost one.
        assert!(needs_check(busy, now, Some(after)));
        assert!(needs_check(busy, now, Some(now)));
        // Idle for the threshold or longer: checked whatever happened.
        assert!(needs_check(VERIFY_IDLE_AFTER, now, None));
        assert!(needs_check(VERIFY_IDLE_AFTER * 3, now, Some(before)));
    }

    #[test]
    fn parse_errors_never_show_the_connection_string() {
        let url = SecretString::from("postgres://u:Pa55-word@host:notaport/db");
        let err = parse(&url).unwrap_err();
        assert!(!err.to_string().contains("Pa55-word"));
        assert!(!format!("{err:?}").contains("Pa55-word"));
    }

    #[test]
    fn redactor_from_a_url_hides_raw_and_encoded_password() {
        let url = SecretString::from("postgres://u:p%40ss%2Fw0rd@localhost/db");
        let (cfg, r) = parse(&url).unwrap();
        assert_eq!(cfg.get_password(), Some(&b"p@ss/w0rd"[..]));
        assert_eq!(r.redact("x p@ss/w0rd y p%40ss%2Fw0rd"), "x *** y ***");
    }
}
