import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls, { type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { AppError } from '../core/errors.js';
import { SyncError } from './errors.js';

/**
 * Which server the kit trusts for uploads (config `sync.dock`): a certificate that chains to the CA
 * file (and names the host), or a certificate in the presented chain whose SHA-256 (of the whole
 * DER certificate, or of its SubjectPublicKeyInfo) equals a pin. Neither set: the system's CAs.
 */
export interface TrustOptions {
  caFile?: string;
  /** Hex (colons allowed) or base64 (optionally "sha256/…") SHA-256 of a certificate or its SPKI. */
  pinSha256?: string | string[];
}

export interface LoadedTrust {
  ca: string | undefined;
  pins: string[];
  caFile: string | undefined;
}

/** Normalises a pin to lower-case hex; names the field and the value when it is not a SHA-256. */
export function normalisePin(pin: string): string {
  const raw = pin.trim().replace(/^sha256\//i, '');
  const hex = raw.replace(/:/g, '');
  if (/^[0-9a-fA-F]{64}$/.test(hex)) return hex.toLowerCase();
  const b = Buffer.from(raw, 'base64');
  if (b.length === 32 && /^[A-Za-z0-9+/]+=*$/.test(raw)) return b.toString('hex');
  throw new AppError('VALIDATION', `sync.dock.pinSha256 ${JSON.stringify(pin)} is not a SHA-256 (64 hex digits or 44 base64 characters)`, {
    field: 'sync.dock.pinSha256',
  });
}

export function loadTrust(opts: TrustOptions): LoadedTrust {
  let ca: string | undefined;
  if (opts.caFile) {
    try {
      ca = readFileSync(opts.caFile, 'utf8');
    } catch (err) {
      throw new AppError('CONFIG', `sync.dock.caFile ${JSON.stringify(opts.caFile)} cannot be read: ${(err as Error).message}`, {
        field: 'sync.dock.caFile',
        cause: err,
      });
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new AppError('CONFIG', `sync.dock.caFile ${JSON.stringify(opts.caFile)} holds no PEM certificate`, { field: 'sync.dock.caFile' });
    }
  }
  const list = opts.pinSha256 === undefined ? [] : Array.isArray(opts.pinSha256) ? opts.pinSha256 : [opts.pinSha256];
  return { ca, pins: list.map(normalisePin), caFile: opts.caFile };
}

export interface Fingerprints {
  certSha256: string;
  spkiSha256: string;
}

export function fingerprints(raw: Buffer): Fingerprints {
  const x = new X509Certificate(raw);
  const spki = x.publicKey.export({ type: 'spki', format: 'der' });
  return {
    certSha256: createHash('sha256').update(raw).digest('hex'),
    spkiSha256: createHash('sha256').update(spki).digest('hex'),
  };
}

/** The presented chain, leaf first. */
function chainOf(socket: TLSSocket): DetailedPeerCertificate[] {
  const out: DetailedPeerCertificate[] = [];
  let cert = socket.getPeerCertificate(true);
  while (cert && cert.raw && out.length < 10) {
    out.push(cert);
    const next = cert.issuerCertificate;
    if (!next || next === cert || next.raw?.equals(cert.raw)) break;
    cert = next;
  }
  return out;
}

export type PeerCheck = { ok: true; via: 'ca' | 'pin' | 'system'; leaf: Fingerprints } | { ok: false; reason: string; leaf?: Fingerprints };

/**
 * Decides whether a connected TLS socket (made with `rejectUnauthorized: false` and the CA from
 * `trust`) reached the trusted server: a pin matches any certificate of the chain, or (when a CA
 * file is set, or no pin is) the chain verified and the certificate names `host`.
 */
export function checkPeer(socket: TLSSocket, host: string, trust: LoadedTrust): PeerCheck {
  const chain = chainOf(socket);
  const leafCert = chain[0];
  if (!leafCert) return { ok: false, reason: `${host} presented no certificate` };
  const leaf = fingerprints(leafCert.raw);
  if (trust.pins.length > 0) {
    for (const c of chain) {
      const f = fingerprints(c.raw);
      if (trust.pins.includes(f.certSha256) || trust.pins.includes(f.spkiSha256)) return { ok: true, via: 'pin', leaf };
    }
  }
  const caReason = (): string | null => {
    if (!socket.authorized)
      return `its certificate does not chain to ${trust.caFile ? `sync.dock.caFile ${JSON.stringify(trust.caFile)}` : 'a system CA'} (${String(socket.authorizationError)})`;
    const idErr = tls.checkServerIdentity(host, leafCert);
    if (idErr) return `its certificate is not for ${host} (${idErr.message})`;
    return null;
  };
  if (trust.ca !== undefined || trust.pins.length === 0) {
    const r = caReason();
    if (r === null) return { ok: true, via: trust.ca !== undefined ? 'ca' : 'system', leaf };
    const pinNote = trust.pins.length > 0 ? ` and it matches no sync.dock.pinSha256` : '';
    return { ok: false, reason: `${host}: ${r}${pinNote} (certificate SHA-256 ${leaf.certSha256}, SPKI SHA-256 ${leaf.spkiSha256})`, leaf };
  }
  return {
    ok: false,
    leaf,
    reason: `${host}: its certificate matches no sync.dock.pinSha256 (certificate SHA-256 ${leaf.certSha256}, SPKI SHA-256 ${leaf.spkiSha256})`,
  };
}

/**
 * An https.Agent that enforces `trust` on every connection before any request is sent: the
 * handshake runs with the CA file, and the peer is checked (pin or CA + host name) in the first
 * `secureConnect` listener; a mismatch destroys the socket with a TLS SyncError.
 */
export class TrustingAgent extends https.Agent {
  constructor(
    private readonly trust: LoadedTrust,
    opts: https.AgentOptions = {},
  ) {
    super({ keepAlive: true, ...opts });
  }

  /** Called by the agent with the request's options; the agent takes the returned socket. */
  override createConnection(options: tls.ConnectionOptions & { host?: string; servername?: string }): Duplex {
    const host = options.servername || options.host || 'localhost';
    const socket = tls.connect({
      ...options,
      ...(this.trust.ca !== undefined ? { ca: this.trust.ca } : {}),
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    socket.prependOnceListener('secureConnect', () => {
      const r = checkPeer(socket, host, this.trust);
      if (!r.ok) socket.destroy(new SyncError('TLS', `the upload endpoint is not the trusted server: ${r.reason}`));
    });
    return socket;
  }
}
