//! TLS settings ([`TlsConfig`]): the certificates, one default and more by SNI name, kept in
//! a store that reloads them in place, and the handshake limits.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The ALPN protocol offered: HTTP/1.1 only (HTTP/2 is for a proxy in front, docs/deploy.md).
const ALPN_HTTP_1_1: &[u8] = b"http/1.1";

/// TLS on the listener: certificates, handshake limits, reloading. Build it with
/// [`TlsConfig::from_pem_files`] and give it to [`Config::with_tls`](crate::Config::with_tls).
///
/// Every shard shares one rustls configuration (TLS 1.3 and 1.2, ALPN `http/1.1`, the `ring`
/// crypto provider). The certificates are looked up per handshake by the name the client
/// asked for (SNI); a client that asks for none, or for a name without a certificate of its
/// own, gets the default one. [`ServerHandle::reload_tls`](crate::ServerHandle::reload_tls),
/// SIGHUP (when the server was built [`with_signal_drain`](crate::Server::with_signal_drain))
/// and a change of the files' modification times (polled every
/// [`TlsConfig::reload_poll`]) load every file again; connections already open keep their
/// session, new handshakes get the new certificates. A reload that fails (a file half
/// written, a key that does not match) keeps the old certificates and says why in the log.
#[derive(Clone)]
pub struct TlsConfig {
    /// How long a client may take from accept (after its PROXY header, if any) to a
    /// finished handshake; then the connection is closed and counted as failed. Default
    /// 10 s (nginx's `client_header_timeout` covers its handshake with 60 s; a client on a
    /// real network finishes in a few round trips).
    pub handshake_timeout: Duration,
    /// Most handshakes in flight on one shard. A handshake costs a signature (RSA-2048:
    /// about 1 ms of CPU), the most expensive thing a client can ask for, so under a flood
    /// of them the newcomers over this cap are closed at once, before anything is read, and
    /// counted (`ringpin_tls_handshakes_refused_total`); established connections keep
    /// being served. While [`Config::shedding`](crate::Config::shedding) refuses
    /// requests, every new handshake is refused the same way: handshakes are shed first.
    /// Default 256.
    pub max_handshakes_per_shard: usize,
    /// How often a background thread compares the certificate and key files' modification
    /// times with those loaded, and reloads on a change. Default 5 s; `None`: only on
    /// [`ServerHandle::reload_tls`](crate::ServerHandle::reload_tls) or SIGHUP.
    pub reload_poll: Option<Duration>,
    pub(crate) store: Arc<CertStore>,
    pub(crate) rustls: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_handshakes_per_shard", &self.max_handshakes_per_shard)
            .field("reload_poll", &self.reload_poll)
            .field("certificates", &self.store)
            .finish()
    }
}

impl TlsConfig {
    /// TLS with the certificate chain in `cert` (PEM, leaf first) and its private key in
    /// `key` (PEM: PKCS#8, PKCS#1 or SEC1), served to every client that asks for no other
    /// name. Fails when a file cannot be read, holds no certificate or key, or the key does
    /// not match the certificate.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<TlsConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let default = Entry::load(&provider, None, cert.as_ref(), key.as_ref())?;
        let store = Arc::new(CertStore {
            provider: provider.clone(),
            entries: RwLock::new(vec![default]),
        });
        let mut rustls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(store.clone());
        rustls.alpn_protocols = vec![ALPN_HTTP_1_1.to_vec()];
        Ok(TlsConfig {
            handshake_timeout: Duration::from_secs(10),
            max_handshakes_per_shard: 256,
            reload_poll: Some(Duration::from_secs(5)),
            store,
            rustls: Arc::new(rustls),
        })
    }

    /// Adds a certificate served to clients that ask for `host` by SNI (exact, ASCII case
    /// ignored; `*.example.com` matches one label in front of `example.com`).
    pub fn with_sni(
        self,
        host: &str,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<TlsConfig> {
        let entry = Entry::load(
            &self.store.provider,
            Some(host.to_ascii_lowercase()),
            cert.as_ref(),
            key.as_ref(),
        )?;
        self.store.write().push(entry);
        Ok(self)
    }

    /// Sets [`TlsConfig::handshake_timeout`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> TlsConfig {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`TlsConfig::max_handshakes_per_shard`] (at least 1).
    pub fn with_max_handshakes_per_shard(mut self, max: usize) -> TlsConfig {
        self.max_handshakes_per_shard = max.max(1);
        self
    }

    /// Sets [`TlsConfig::reload_poll`].
    pub fn with_reload_poll(mut self, every: Option<Duration>) -> TlsConfig {
        self.reload_poll = every;
        self
    }

    /// Loads every certificate and key file again. All or nothing: if one fails, the
    /// certificates in use stay, and the error names the file.
    pub fn reload(&self) -> io::Result<()> {
        self.store.reload()
    }
}

/// One certificate and where it came from.
struct Entry {
    /// `None`: the default certificate.
    host: Option<String>,
    cert_path: PathBuf,
    key_path: PathBuf,
    /// The files' modification times when loaded.
    stamps: [Option<SystemTime>; 2],
    key: Arc<CertifiedKey>,
}

impl Entry {
    fn load(
        provider: &CryptoProvider,
        host: Option<String>,
        cert: &Path,
        key: &Path,
    ) -> io::Result<Entry> {
        let stamps = [modified(cert), modified(key)];
        let named = |what: &str, path: &Path, e: &dyn fmt::Display| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("TLS {what} {}: {e}", path.display()),
            )
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .map_err(|e| named("certificate", cert, &e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| named("certificate", cert, &e))?;
        if chain.is_empty() {
            return Err(named("certificate", cert, &"no CERTIFICATE in the file"));
        }
        let private = PrivateKeyDer::from_pem_file(key).map_err(|e| named("key", key, &e))?;
        let certified =
            CertifiedKey::from_der(chain, private, provider).map_err(|e| named("key", key, &e))?;
        Ok(Entry {
            host,
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            stamps,
            key: Arc::new(certified),
        })
    }

    fn matches(&self, name: &str) -> bool {
        self.host
            .as_deref()
            .is_some_and(|host| host_matches(host, name))
    }
}

/// Whether the SNI `name` (lowercase) is `host`, or one label under a `*.` host.
fn host_matches(host: &str, name: &str) -> bool {
    match host.strip_prefix("*.") {
        Some(parent) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => host == name,
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The certificates every shard's handshakes pick from; rustls's resolver.
pub(crate) struct CertStore {
    provider: Arc<CryptoProvider>,
    /// The default first, then the SNI names in the order added. Read once per handshake
    /// (a reader lock, uncontended but for a reload's write).
    entries: RwLock<Vec<Entry>>,
}

impl CertStore {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Entry>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a file's modification time differs from the one loaded.
    pub(crate) fn changed_on_disk(&self) -> bool {
        self.read()
            .iter()
            .any(|entry| entry.stamps != [modified(&entry.cert_path), modified(&entry.key_path)])
    }

    /// Loads every file again; all or nothing.
    pub(crate) fn reload(&self) -> io::Result<()> {
        let sources: Vec<(Option<String>, PathBuf, PathBuf)> = self
            .read()
            .iter()
            .map(|e| (e.host.clone(), e.cert_path.clone(), e.key_path.clone()))
            .collect();
        let fresh = sources
            .into_iter()
            .map(|(host, cert, key)| Entry::load(&self.provider, host, &cert, &key))
            .collect::<io::Result<Vec<_>>>()?;
        *self.write() = fresh;
        Ok(())
    }
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .read()
            .iter()
            .map(|e| e.host.clone().unwrap_or_else(|| "(default)".into()))
            .collect();
        f.debug_list().entries(names).finish()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let entries = self.read();
        if let Some(name) = hello.server_name() {
            // rustls hands over the name validated as a DNS name; case is not significant.
            let name = name.to_ascii_lowercase();
            if let Some(entry) = entries.iter().find(|e| e.matches(&name)) {
                return Some(entry.key.clone());
            }
        }
        entries.first().map(|e| e.key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_names_match_exactly_or_by_one_wildcard_label() {
        #[rustfmt::skip]
        let cases = [
            ("a.test", "a.test", true), ("a.test", "b.test", false),
            ("*.a.test", "x.a.test", true), ("*.a.test", "a.test", false),
            ("*.a.test", "y.x.a.test", false), ("*.a.test", ".a.test", false),
        ];
        for (host, name, expected) in cases {
            assert_eq!(host_matches(host, name), expected, "{host} vs {name}");
        }
    }
}
