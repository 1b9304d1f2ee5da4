import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** What the cookie helpers need of a request and a response (node:http, Express, Fastify's raw). */
export interface RequestLike {
  method?: string | undefined;
  headers: IncomingHttpHeaders;
}
export interface ResponseLike {
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: string | string[]): unknown;
}

/** Every value of each cookie in the request's Cookie header (a name may repeat). */
export function parseCookies(req: RequestLike): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}

export type Secrets = readonly Buffer[];

export function toSecrets(secret: string | Buffer | readonly (string | Buffer)[]): Secrets {
  const list = (Array.isArray(secret) ? secret : [secret]) as (string | Buffer)[];
  if (list.length === 0) throw new RangeError('at least one secret is needed');
  return list.map((s) => {
    const b = typeof s === 'string' ? Buffer.from(s) : s;
    if (b.length < 16) throw new RangeError('a cookie secret must be at least 16 bytes');
    return b;
  });
}

const mac = (secret: Buffer, name: string, payload: string) => createHmac('sha256', secret).update(`${name}=${payload}`).digest();

/** `<payload>.<HMAC-SHA256(name=payload), base64url>`, signed with the first secret. */
export function sign(secrets: Secrets, name: string, payload: string): string {
  return `${payload}.${mac(secrets[0], name, payload).toString('base64url')}`;
}

/** The payload if the signature matches any of the secrets (so secrets can be rotated), else null. */
export function unsign(secrets: Secrets, name: string, signed: string): string | null {
  const dot = signed.lastIndexOf('.');
  if (dot < 0) return null;
  const payload = signed.slice(0, dot);
  const given = Buffer.from(signed.slice(dot + 1), 'base64url');
  for (const secret of secrets) {
    const want = mac(secret, name, payload);
    if (given.length === want.length && timingSafeEqual(given, want)) return payload;
  }
  return null;
}

export interface CookieAttributes {
  path?: string | undefined;
  domain?: string | undefined;
  secure?: boolean | undefined;
  sameSite?: 'Strict' | 'Lax' | 'None' | undefined;
}

/** Add a Set-Cookie header, keeping the ones already set. */
export function appendCookie(res: ResponseLike, name: string, value: string, maxAgeMs: number, attrs: CookieAttributes): void {
  const parts = [`${name}=${value}`, `Max-Age=${Math.max(1, Math.ceil(maxAgeMs / 1000))}`, `Path=${attrs.path ?? '/'}`, 'HttpOnly'];
  if (attrs.domain) parts.push(`Domain=${attrs.domain}`);
  parts.push(`SameSite=${attrs.sameSite ?? 'Lax'}`);
  if (attrs.secure) parts.push('Secure');
  const prev = res.getHeader('set-cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)];
  res.setHeader('set-cookie', [...list.filter((c) => !c.startsWith(`${name}=`)), parts.join('; ')]);
}
