/**
 * The per-cluster TLS certificate: self-signed, made at controller start (in
 * the manner of Dask's `Security.temporary()`), its SHA-256 fingerprint pinned
 * in the connection file so engines and clients accept this certificate and
 * no other. Made by the `openssl` command (on every Linux login node; Node has
 * no X.509 writer): an EC P-256 key, ~25 ms.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';

export interface ClusterCertificate {
  /** PEM */
  cert: string;
  /** PEM private key */
  key: string;
  /** SHA-256 of the DER certificate, "AB:CD:…" (what Node reports as fingerprint256) */
  fingerprint: string;
}

export function makeCertificate(commonName: string): ClusterCertificate {
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', '-', '-out', '-', '-days', '3650', '-subj', `/CN=${commonName}`];
  const run = spawnSync('openssl', args, { encoding: 'utf8', timeout: 30_000 });
  if (run.error || run.status !== 0) {
    const why = run.error ? (run.error as NodeJS.ErrnoException).code ?? run.error.message : (run.stderr || '').trim().split('\n').pop();
    throw new Error(`cannot make the cluster's TLS certificate with openssl (${why}); install openssl, or run without TLS (--no-tls, loopback only)`);
  }
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(run.stdout)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(run.stdout)?.[0];
  if (!key || !cert) throw new Error('cannot make the cluster\'s TLS certificate: openssl printed no key and certificate');
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
}

/** TLS is on by default when the controller binds to anything but loopback. */
export function tlsByDefault(bind: string): boolean {
  return !(bind.startsWith('127.') || bind === '::1' || bind === 'localhost');
}
