//! A certificate authority made by a test with the `openssl` command (installed by
//! scripts/install-test-clients.sh): a CA, a broker certificate for 127.0.0.1 and client
//! certificates, as PEM files in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA (`ca.pem`), the broker's key store (`broker-keystore.pem`: key and certificate for
    /// IP 127.0.0.1 and localhost, subject CN=localhost), and a client certificate (`client.pem`, `client.key`,
    /// subject CN=alice); `other-ca.pem` and `stranger.pem`/`.key` from a second, untrusted CA.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("PKI dir");
        let pki = Pki { dir };
        pki.ca("ca");
        pki.ca("other-ca");
        pki.issue(
            "ca",
            "broker",
            "/CN=localhost",
            // Client auth too: nodes present it to each other's mutual-TLS listeners.
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth",
        );
        pki.issue(
            "ca",
            "client",
            "/O=weir/CN=alice",
            "extendedKeyUsage=clientAuth",
        );
        pki.issue(
            "other-ca",
            "stranger",
            "/CN=mallory",
            "extendedKeyUsage=clientAuth",
        );
        let keystore = [pki.path("broker.key"), pki.path("broker.pem")]
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read PEM"))
            .collect::<String>();
        std::fs::write(pki.path("broker-keystore.pem"), keystore).expect("write key store");
        pki
    }

    /// A broker's settings for mutual TLS on an SSL listener at `ssl_port` beside PLAINTEXT on
    /// its usual port: this PKI's key store, its CA as the trust store, client certificates
    /// required.
    pub fn mutual_tls_broker(&self, ssl_port: u16) -> Vec<String> {
        vec![
            format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SSL://127.0.0.1:{ssl_port}"),
            format!("ssl.keystore.location={}", self.file("broker-keystore.pem")),
            format!("ssl.truststore.location={}", self.file("ca.pem")),
            "ssl.client.auth=required".to_string(),
        ]
    }

    /// librdkafka (kcat) settings for SSL trusting this CA, presenting certificate `cert`
    /// (`cert.pem` and `cert.key`).
    pub fn client_with_certificate(&self, cert: &str) -> Vec<String> {
        vec![
            "security.protocol=SSL".to_string(),
            format!("ssl.ca.location={}", self.file("ca.pem")),
            format!(
                "ssl.certificate.location={}",
                self.file(&format!("{cert}.pem"))
            ),
            format!("ssl.key.location={}", self.file(&format!("{cert}.key"))),
        ]
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `path(name)` as a string, for command lines.
    pub fn file(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn ca(&self, name: &str) {
        openssl(
            self.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=weir test {name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }

    fn issue(&self, ca: &str, name: &str, subject: &str, extensions: &str) {
        let ext = format!("{name}.ext");
        std::fs::write(self.path(&ext), format!("{extensions}\n")).expect("write extensions");
        openssl(
            self.dir.path(),
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            self.dir.path(),
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (scripts/install-test-clients.sh installs it)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
